"""The HTML of the SSO login pages, in Kazakh, Russian and English: plain forms that work
without JavaScript. Every value put into a page passes through ``html.escape``."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from string import Template
from urllib.parse import quote

from starlette.responses import HTMLResponse

LANGS = ("kk", "ru", "en")
DEFAULT_LANG = "ru"
LANG_NAMES = {"kk": "Қазақша", "ru": "Русский", "en": "English"}

TEXT: dict[str, dict[str, str]] = {
    "title": {"kk": "Кіру", "ru": "Вход", "en": "Sign in"},
    "username": {"kk": "Пайдаланушы аты", "ru": "Имя пользователя", "en": "User name"},
    "password": {"kk": "Құпиясөз", "ru": "Пароль", "en": "Password"},
    "sign_in": {"kk": "Кіру", "ru": "Войти", "en": "Sign in"},
    "or_provider": {
        "kk": "Немесе мына арқылы кіріңіз:",
        "ru": "Или войдите через:",
        "en": "Or sign in with:",
    },
    "totp_title": {"kk": "Бір реттік код", "ru": "Одноразовый код", "en": "One-time code"},
    "totp_prompt": {
        "kk": "Аутентификатор қолданбасындағы 6 таңбалы кодты енгізіңіз.",
        "ru": "Введите 6-значный код из приложения-аутентификатора.",
        "en": "Enter the 6-digit code from your authenticator app.",
    },
    "code": {"kk": "Код", "ru": "Код", "en": "Code"},
    "confirm": {"kk": "Растау", "ru": "Подтвердить", "en": "Confirm"},
    "enrol_title": {
        "kk": "Екі факторлы аутентификацияны баптау",
        "ru": "Настройка двухфакторной аутентификации",
        "en": "Set up two-factor authentication",
    },
    "enrol_intro": {
        "kk": "Ұйымыңыз әр кіру кезінде бір реттік кодты талап етеді. QR-кодты аутентификатор "
        "қолданбасымен сканерлеңіз (мысалы, FreeOTP, Google Authenticator немесе Microsoft "
        "Authenticator) немесе кілтті қолмен енгізіңіз, содан кейін ол көрсеткен кодты теріңіз.",
        "ru": "Ваша организация требует одноразовый код при каждом входе. Отсканируйте QR-код "
        "приложением-аутентификатором (например, FreeOTP, Google Authenticator или Microsoft "
        "Authenticator) или введите ключ вручную, затем введите показанный код.",
        "en": "Your organisation requires a one-time code at every sign-in. Scan the QR code "
        "with an authenticator app (for example FreeOTP, Google Authenticator or Microsoft "
        "Authenticator), or type the key by hand, then enter the code it shows.",
    },
    "key": {"kk": "Кілт", "ru": "Ключ", "en": "Key"},
    "open_app": {
        "kk": "Осы құрылғыдағы аутентификатор қолданбасында ашу",
        "ru": "Открыть в приложении-аутентификаторе на этом устройстве",
        "en": "Open in an authenticator app on this device",
    },
    "qr_alt": {
        "kk": "Аутентификатор қолданбасына арналған QR-код",
        "ru": "QR-код для приложения-аутентификатора",
        "en": "QR code for an authenticator app",
    },
    "signing_in_as": {"kk": "Кіруші:", "ru": "Вход как:", "en": "Signing in as:"},
    "confirm_title": {
        "kk": "Қолданбаға өту",
        "ru": "Продолжить в приложении",
        "en": "Continue to your app",
    },
    "confirm_text": {
        "kk": "Сіз $client қолданбасына кіргелі жатырсыз. Бұл кіруді өзіңіз осы қолданбадан "
        "бастаған болсаңыз ғана жалғастырыңыз.",
        "ru": "Вы входите в $client. Продолжайте, только если сами начали этот вход из этого "
        "приложения.",
        "en": "You are about to sign in to $client. Continue only if you started this "
        "sign-in yourself, from that app.",
    },
    "continue": {"kk": "Жалғастыру", "ru": "Продолжить", "en": "Continue"},
    "restart": {
        "kk": "Қолданбаға оралып, кіруді қайта бастаңыз.",
        "ru": "Вернитесь в приложение и начните вход заново.",
        "en": "Return to your app and start signing in again.",
    },
    "error_title": {"kk": "Кіру мүмкін болмады", "ru": "Вход не выполнен", "en": "Cannot sign in"},
}

ERRORS: dict[str, dict[str, str]] = {
    "session_expired": {
        "kk": "Кіру беті ескірген немесе басқа браузерде ашылған.",
        "ru": "Страница входа устарела или открыта в другом браузере.",
        "en": "This sign-in page has expired or was opened in another browser.",
    },
    "bad_csrf": {
        "kk": "Форманы тексеру мүмкін болмады. Бетті жаңартып, қайталап көріңіз.",
        "ru": "Не удалось проверить форму. Обновите страницу и попробуйте снова.",
        "en": "The form could not be verified. Reload the page and try again.",
    },
    "bad_redirect": {
        "kk": "Қолданба осы сервер рұқсат етпейтін мекенжайға қайтуды сұрады.",
        "ru": "Приложение запросило возврат на адрес, который этот сервер не разрешает.",
        "en": "The app asked to return to an address this server does not allow.",
    },
    "unknown_idp": {
        "kk": "Белгісіз сәйкестендіру провайдері.",
        "ru": "Неизвестный поставщик удостоверений.",
        "en": "Unknown identity provider.",
    },
    "idp_unavailable": {
        "kk": "Сәйкестендіру провайдері қазір қолжетімсіз. Кейінірек қайталаңыз.",
        "ru": "Поставщик удостоверений сейчас недоступен. Попробуйте позже.",
        "en": "The identity provider cannot be reached right now. Try again later.",
    },
    "bad_credentials": {
        "kk": "Пайдаланушы аты немесе құпиясөз қате.",
        "ru": "Неверное имя пользователя или пароль.",
        "en": "Wrong user name or password.",
    },
    "rate_limited": {
        "kk": "Әрекеттер тым көп. Бір минут күтіп, қайталаңыз.",
        "ru": "Слишком много попыток. Подождите минуту и попробуйте снова.",
        "en": "Too many attempts. Wait a minute and try again.",
    },
    "wrong_code": {
        "kk": "Код қате. Құрылғыңыздың сағатын тексеріп, ағымдағы кодты енгізіңіз.",
        "ru": "Неверный код. Проверьте часы устройства и введите текущий код.",
        "en": "The code is wrong. Check your device's clock and enter the current code.",
    },
    "replayed_code": {
        "kk": "Бұл код қолданылып қойған. Келесі кодты күтіңіз.",
        "ru": "Этот код уже использован. Дождитесь следующего кода.",
        "en": "This code was already used. Wait for the next code.",
    },
    "too_many_codes": {
        "kk": "Қате кодтар тым көп.",
        "ru": "Слишком много неверных кодов.",
        "en": "Too many wrong codes.",
    },
    "oidc_pending": {
        "kk": "Бұл кіру сәйкестендіру провайдерінің жауабын күтуде.",
        "ru": "Этот вход ожидает ответа поставщика удостоверений.",
        "en": "This sign-in is waiting for the identity provider.",
    },
    "bad_state": {
        "kk": "Сәйкестендіру провайдерінің жауабы бұл кіруге жатпайды.",
        "ru": "Ответ поставщика удостоверений не относится к этому входу.",
        "en": "The identity provider's answer does not belong to this sign-in.",
    },
    "oidc_failed": {
        "kk": "Сәйкестендіру провайдері арқылы кіру сәтсіз аяқталды.",
        "ru": "Вход через поставщика удостоверений не удался.",
        "en": "Signing in through the identity provider failed.",
    },
    "oidc_unknown_user": {
        "kk": "Сәйкестендіру провайдеріндегі тіркелгіңіз ешбір белсенді tumar тіркелгісімен "
        "байланыстырылмаған. Әкімшіге хабарласыңыз.",
        "ru": "Ваша учётная запись у поставщика удостоверений не связана ни с одной активной "
        "учётной записью tumar. Обратитесь к администратору.",
        "en": "Your account at the identity provider is not linked to an active tumar account. "
        "Ask your administrator.",
    },
    "stale_page": {
        "kk": "Бет ескірген. Қайталап көріңіз.",
        "ru": "Страница устарела. Попробуйте снова.",
        "en": "This page was out of date. Try again.",
    },
    "bad_form": {
        "kk": "Форма қате толтырылған.",
        "ru": "Форма заполнена неверно.",
        "en": "The form was not filled in correctly.",
    },
    "refused": {"kk": "Кіру қабылданбады.", "ru": "Вход отклонён.", "en": "Sign-in refused."},
}

SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

PAGE = Template("""<!doctype html>
<html lang="$lang">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>$title · tumar</title>
<style>
body{font-family:system-ui,sans-serif;background:#f3f5f8;color:#1b2430;margin:0}
main{max-width:26rem;margin:3rem auto;background:#fff;padding:2rem;border-radius:8px;
box-shadow:0 1px 4px rgba(0,0,0,.12)}
h1{font-size:1.4rem;margin-top:0}
label{display:block;margin:.8rem 0 .3rem}
input[type=text],input[type=password]{width:100%;box-sizing:border-box;padding:.55rem;
font-size:1rem;border:1px solid #9aa6b2;border-radius:4px}
button,.button{display:inline-block;margin-top:1rem;padding:.6rem 1.2rem;font-size:1rem;
border:0;border-radius:4px;background:#1f5fbf;color:#fff;text-decoration:none;cursor:pointer}
.secondary{background:#e7ecf3;color:#1b2430}
.error{background:#fde8e8;color:#8a1c1c;padding:.6rem;border-radius:4px}
.key{font-family:monospace;font-size:1.1rem;letter-spacing:.05rem;word-break:break-all}
.langs{text-align:right;font-size:.85rem}
.langs a{margin-left:.5rem}
form.inline{display:inline}
</style>
</head>
<body>
<main>
<nav class="langs">$langs</nav>
<h1>$title</h1>
$error
$body
</main>
</body>
</html>
""")


def pick_lang(requested: str | None, accept_language: str | None) -> str:
    """The ``lang`` parameter if known, else the first known language the browser prefers."""
    if requested in LANGS:
        return str(requested)
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower()[:2]
        if tag in LANGS:
            return tag
    return DEFAULT_LANG


def t(key: str, lang: str) -> str:
    return TEXT[key][lang]


def _page(
    lang: str, title: str, body: str, page_path: str, error: str | None = None, status: int = 200
) -> HTMLResponse:
    langs = "".join(
        f'<a href="{escape(page_path)}?lang={code}" lang="{code}">{escape(name)}</a>'
        for code, name in LANG_NAMES.items()
        if code != lang
    )
    html = PAGE.substitute(
        lang=lang,
        title=escape(title),
        langs=langs,
        error=f'<p class="error" role="alert">{escape(error)}</p>' if error else "",
        body=body,
    )
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


def error_message(key: str, lang: str, detail: str | None = None) -> str:
    if detail:
        return detail
    return ERRORS.get(key, ERRORS["refused"])[lang]


def _hidden(csrf: str, lang: str) -> str:
    return (
        f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
        f'<input type="hidden" name="lang" value="{escape(lang)}">'
    )


def password_page(
    lang: str,
    page_path: str,
    csrf: str,
    providers: Sequence[tuple[str, str]],
    *,
    error: str | None = None,
    username: str = "",
    status: int = 200,
) -> HTMLResponse:
    body = f"""<form method="post" action="{escape(page_path)}/password">
{_hidden(csrf, lang)}
<label for="username">{escape(t("username", lang))}</label>
<input type="text" id="username" name="username" value="{escape(username)}"
 autocomplete="username" autocapitalize="none" spellcheck="false" required autofocus>
<label for="password">{escape(t("password", lang))}</label>
<input type="password" id="password" name="password" autocomplete="current-password" required>
<button type="submit">{escape(t("sign_in", lang))}</button>
</form>"""
    if providers:
        buttons = "".join(
            f"""<form class="inline" method="post" action="{escape(page_path)}/provider">
{_hidden(csrf, lang)}<input type="hidden" name="idp" value="{escape(idp)}">
<button type="submit" class="secondary">{escape(name)}</button></form> """
            for idp, name in providers
        )
        body += f"<p>{escape(t('or_provider', lang))}</p>{buttons}"
    return _page(lang, t("title", lang), body, page_path, error, status)


def code_page(
    lang: str,
    page_path: str,
    csrf: str,
    user_id: str,
    *,
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    body = f"""<p>{escape(t("signing_in_as", lang))} <strong>{escape(user_id)}</strong></p>
<p>{escape(t("totp_prompt", lang))}</p>
{_code_form(lang, page_path, csrf)}"""
    return _page(lang, t("totp_title", lang), body, page_path, error, status)


def enrol_page(
    lang: str,
    page_path: str,
    csrf: str,
    user_id: str,
    secret: str,
    uri: str,
    qr_data_uri: str,
    *,
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    grouped = " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
    body = f"""<p>{escape(t("signing_in_as", lang))} <strong>{escape(user_id)}</strong></p>
<p>{escape(t("enrol_intro", lang))}</p>
<p><img src="{escape(qr_data_uri)}" alt="{escape(t("qr_alt", lang))}" width="185"
 height="185"></p>
<p>{escape(t("key", lang))}: <span class="key">{escape(grouped)}</span></p>
<p><a href="{escape(uri)}">{escape(t("open_app", lang))}</a></p>
{_code_form(lang, page_path, csrf)}"""
    return _page(lang, t("enrol_title", lang), body, page_path, error, status)


def _code_form(lang: str, page_path: str, csrf: str) -> str:
    return f"""<form method="post" action="{escape(page_path)}/code">
{_hidden(csrf, lang)}
<label for="code">{escape(t("code", lang))}</label>
<input type="text" id="code" name="code" inputmode="numeric" pattern="[0-9 ]*"
 autocomplete="one-time-code" maxlength="9" required autofocus>
<button type="submit">{escape(t("confirm", lang))}</button>
</form>"""


def confirm_page(lang: str, page_path: str, location: str, client: str) -> HTMLResponse:
    text = Template(t("confirm_text", lang)).substitute(client="\0")
    before, _, after = text.partition("\0")
    body = f"""<p>{escape(before)}<strong>{escape(client)}</strong>{escape(after)}</p>
<p><a class="button" href="{escape(location)}">{escape(t("continue", lang))}</a></p>"""
    return _page(lang, t("confirm_title", lang), body, page_path)


def error_page(
    lang: str, page_path: str, message: str, *, restart: bool, status: int
) -> HTMLResponse:
    body = f"<p>{escape(t('restart', lang))}</p>" if restart else ""
    return _page(lang, t("error_title", lang), body, page_path, message, status)


def page_url(page_path: str, lang: str) -> str:
    return f"{page_path}?lang={quote(lang)}"
