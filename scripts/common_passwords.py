"""Build ``src/tumar/policy/data/common-passwords.txt``, the list of common passwords the
password policy refuses.

The list is written from knowledge of what people pick, not downloaded: the passwords that top
every published breach analysis, keyboard walks (Latin and the Russian/Kazakh keyboard typed
in the Latin layout), digit runs, and common words, names and places of Kazakhstan with the
suffixes people add (years, ``123``, ``!``). Entries are lower case; the policy compares
case-insensitively and also strips trailing digits and symbols and undoes look-alike
substitutions before looking a password up, so the list need not spell out every variant.

Run ``.venv/bin/python scripts/common_passwords.py`` after editing; the output is sorted and
deterministic.
"""

from __future__ import annotations

from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "src/tumar/policy/data/common-passwords.txt"

TOP = """
123456 password 123456789 12345678 12345 qwerty 1234567 111111 1234567890 123123 abc123
1234 password1 iloveyou 1q2w3e4r 000000 qwerty123 zaq12wsx dragon sunshine princess
letmein 654321 monkey 27653 1qaz2wsx 123321 qwertyuiop superman asdfghjkl trustno1 football
baseball welcome shadow master 666666 michael 121212 jesus mustang access 7777777 killer
696969 batman starwars hello freedom whatever qazwsx ninja azerty solo loveme 888888 passw0rd
p@ssw0rd p@ssword admin admin123 administrator root toor changeme default secret test test123
guest user login welcome1 letmein1 iloveyou1 password123 password12 password1234 qwe123
qweasd qweasdzxc 1qazxsw2 zxcvbnm zxcvbn asdfgh asdf1234 1234qwer qwer1234 q1w2e3r4
q1w2e3r4t5 q1w2e3r4t5y6 1q2w3e 1q2w3e4r5t 1q2w3e4r5t6y 123qwe 123qweasd 123qweasdzxc
qwerty1 qwerty12 qwerty1234 qwerty12345 qwertyu qwertyui ytrewq ytrewq123 1q2w3e4r5 aa123456
a123456 z123456 q123456 123456a 123456q 123456z 123abc abc1234 abcd1234 abcdef abcdefg
abcdefgh abcdefghij 11111111 22222222 55555555 99999999 00000000 12341234 123123123
1234512345 123654 147258 147258369 159753 159357 741852963 789456123 987654321 0987654321
1122334455 112233 11223344 123321123 135790 246810 13579 2468 5201314 520520 1314520
football1 baseball1 soccer hockey tennis basketball jordan23 michael1 charlie charlie1
jennifer jessica ashley amanda daniel andrew joshua matthew anthony hunter ranger buster
tigger thomas robert harley maggie ginger pepper cookie chocolate summer winter spring autumn
flower flowers orange banana apple cherry lemon computer internet google yahoo hotmail
mypassword mypass pass pass123 pass1234 passpass passwd passwort motdepasse contrasena senha
parola haslo salasana wachtwoord lozinka geslo heslo jelszo sifre parol parool
iloveu iloveyou2 loveyou lovely love123 ilove mylove sweety sweetheart babygirl baby angel
angel1 beautiful butterfly princess1 rainbow diamond crystal silver golden gold money
million dollar rich lucky lucky7 secret1 secret123 private hidden unknown nothing nopassword
letmein123 open sesame opensesame access14 master123 masterkey superuser supervisor manager
office work business company service support helpdesk system server network security
database oracle mysql postgres sql cisco linux ubuntu windows microsoft apple samsung nokia
iphone android galaxy huawei xiaomi lenovo dell intel nvidia sony canon google123 facebook
instagram twitter youtube whatsapp telegram skype viber zoom gmail mailru yandex rambler
vkontakte odnoklassniki ghbdtn gfhjkm gfhjkm123 ntcnnjdsq vjqgfhjkm ktyjxrf kjdtyrf
cjkywt xtkjdtr fylhtq vfrcbv vfhbyf yfnfif ktyf cdtnf bhbyf jkmuf nfnmzyf dbrnjhbz
fktrcfylh lkbyf qwerty7 qazxsw qazwsxedc qazwsx123 wsxzaq zaqxsw zaq1xsw2 xsw21qaz
1qaz2wsx3edc zaq1zaq1 !qaz2wsx 1qaz@wsx !qaz@wsx mnbvcxz lkjhgfdsa poiuytrewq
йцукен йцукенг фывапролд ячсмить пароль привет любовь солнце солнышко котик зайка
qwertz qwertzuiop asdfghjkl; azertyuiop trustno1! starwars1 pokemon naruto minecraft
fortnite roblox warcraft counterstrike dota dota2 steam gamer player
""".split()  # noqa: SIM905 (a word list reads best as text)

WALKS = [
    "qwertyuiop",
    "asdfghjkl",
    "zxcvbnm",
    "1234567890",
    "0987654321",
    "qazwsxedcrfvtgbyhnujmikolp",
    "1qaz2wsx3edc4rfv5tgb",
    "1q2w3e4r5t6y7u8i9o0p",
    "q1w2e3r4t5y6u7i8o9p0",
    "zaq1xsw2cde3vfr4",
    "qweasdzxc",
    "asdzxcqwe",
    "poiuytrewq",
    "lkjhgfdsa",
    "mnbvcxz",
    "qwaszx",
    "qweasd",
    "1qazxsw23edcvfr4",
    "123qweasdzxc",
    "qwe123asd",
    "asd123",
    "zxc123",
    "qwe321",
    "ewq321",
    "abcdefghijklmnopqrstuvwxyz",
    "zyxwvutsrqponmlkjihgfedcba",
]

WORDS = """
password passwort parol parola welcome hello letmein secret admin login access master
freedom dragon monkey shadow sunshine princess football soccer hockey baseball superman batman
spiderman starwars pokemon iloveyou love lovely angel diamond flower summer winter spring
autumn orange banana cherry chocolate cookie computer internet qwerty killer hunter ranger
tiger lion eagle wolf bear falcon phoenix thunder storm rocket matrix forever family friends
friend happy smile music guitar piano dance cookie coffee pizza house garden mother father
sister brother baby darling honey sweet kitty puppy doggy kitten dolphin horse cowboy pirate
soldier captain doctor teacher student school college university money business office work
manager service support system server network security online mobile phone mail email
testing test demo guest user default changeme temp temporary newpassword oldpassword
mypassword password1 qwerty1 abc welcome1 spring2024 government ministry minister department
akimat akimdik maslikhat kazakhstan qazaqstan kazakstan kazakh qazaq astana almaty alma-ata
nursultan shymkent karaganda qaragandy aktobe aqtobe atyrau aktau aqtau pavlodar semey taraz
kostanay qostanay oral uralsk kyzylorda qyzylorda turkestan turkistan taldykorgan kokshetau
petropavl petropavlovsk zhezkazgan ekibastuz temirtau baikonur balkhash burabay medeu shymbulak
altyn altynorda zhuldyz baqyt bakyt mahabbat mahabat dostyq dostyk otan elim eldos tauelsizdik
rakhmet rahmet salem salam assalam bismillah allah inshallah mashallah alhamdulillah
kaspi kaspibank halyk halykbank beeline kcell tele2 altel kazakhtelecom kazpost egov egovkz
gov govkz tumar tumar2024 messenger element matrix riot synapse
aigerim aizhan ainur aruzhan asel aliya aida dana dinara madina zhanna saule gulnara gulmira
gulnur aisulu akbota ayana ayaulym kamila karina kristina meruert moldir nazerke nazira saltanat
samal sanzhar symbat togzhan tomiris zarina zhansaya zhuldyz dariga balzhan ainura
aslan nurlan daulet erlan yerlan askar arman marat timur ruslan azamat bauyrzhan baurzhan
kairat serik berik dauren yerzhan erzhan zhandos nurzhan nursultan alibek almas arsen aidos
aibek alisher amir ansar asylbek bekzat dias dinmukhamed daniyar erbol yerbol galym islam
kanat madi miras nurbol nurik olzhas rustem sabit talgat temirlan yerassyl zhanibek
alexander aleksandr alexandr alexey aleksey andrey andrei anton artem artur boris denis
dmitriy dmitry evgeniy evgeny igor ilya ivan kirill konstantin maksim maxim mikhail nikita
nikolay oleg pavel roman ruslan sergey sergei stanislav vadim valentin valeriy viktor
vitaliy vladimir vladislav yuriy yaroslav anastasia anna alina alena albina darya ekaterina
elena elizaveta irina kseniya lyudmila margarita maria marina natalia natasha nadezhda olga
oksana polina svetlana sofia tatiana tatyana valentina valeria veronika viktoria yulia
masha sasha dasha pasha misha grisha glasha katya natali lena olya tanya sveta ira vika
yana nastya lyuba lubov lyubov privet solnce solnyshko zaika kotik kotenok malysh rybka
schastie nadezhda vera mechta lubimaya lyubimaya lubimiy angelochek krasotka princessa
koroleva zvezda leto zima vesna osen moskva russia rossiya kiev ukraine belarus piter
spartak zenit dynamo cska barcelona realmadrid chelsea arsenal liverpool juventus milan
manchester messi ronaldo neymar mbappe
""".split()  # noqa: SIM905 (a word list reads best as text)

SUFFIXES = ["", "1", "12", "123", "1234", "12345", "123456", "!", "1!", "123!", "@123", "01",
            "007", "69", "777", "2000", "2010", "2020", "2021", "2022", "2023", "2024", "2025",
            "2026"]  # fmt: skip


def build() -> list[str]:
    found: set[str] = set(TOP)
    for walk in WALKS:
        for n in range(6, len(walk) + 1):
            found.add(walk[:n])
    for digit in "0123456789":
        for n in range(6, 17):
            found.add(digit * n)
    run = "12345678901234567890"
    for n in range(6, 21):
        found.add(run[:n])
        found.add(run[:n][::-1])
    for word in WORDS:
        for suffix in SUFFIXES:
            found.add(word + suffix)
    for year in range(1950, 2031):
        found.add(str(year) * 2)
        found.add(f"password{year}")
        found.add(f"qwerty{year}")
    # Only entries that could ever be typed as a password: printable, no spaces.
    return sorted(w for w in found if w.isprintable() and " " not in w and len(w) >= 4)


def main() -> None:
    words = build()
    header = [
        "# Common passwords refused by the tumar password policy (one per line, lower case).",
        "# Generated by scripts/common_passwords.py; edit that script, not this file.",
    ]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(header + words) + "\n", encoding="utf-8")
    print(f"{len(words)} passwords written to {OUT}")


if __name__ == "__main__":
    main()
