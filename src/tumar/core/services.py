"""The composition root: builds every service from settings, with no globals."""

from __future__ import annotations

from dataclasses import dataclass

from tumar.bus import build_bus
from tumar.bus.base import Bus
from tumar.bus.redis import RedisBus
from tumar.clock import Clock, SystemClock
from tumar.config import Settings
from tumar.core.account_admin import AccountAdmin
from tumar.core.accounts import AccountService
from tumar.core.activation import ActivationService
from tumar.core.at_rest import AtRest
from tumar.core.audit import AuditReader
from tumar.core.audit_chain import AuditChain
from tumar.core.audit_export import AuditExporter
from tumar.core.classification_admin import LabelAdmin
from tumar.core.compliance_export import ComplianceExporter
from tumar.core.correspondence import CorrespondenceService, build_correspondence
from tumar.core.data_keys import DataKeyring
from tumar.core.device_dashboard import DeviceDashboard
from tumar.core.device_gate import DeviceGate
from tumar.core.devices import DeviceService
from tumar.core.directory import DirectoryService
from tumar.core.dlp import DlpGuard
from tumar.core.gov_notices import GovNoticeService
from tumar.core.gov_notices_delivery import NoticeDelivery
from tumar.core.gov_notices_report import NoticeReports, NoticeTicker
from tumar.core.key_backup import KeyBackupService
from tumar.core.key_provider import KeyProvider, LocalKeyProvider, parse_key_lines
from tumar.core.keys import KeyService
from tumar.core.legal_hold import LegalHoldService
from tumar.core.login_guard import LoginGuard
from tumar.core.media import MediaService
from tumar.core.membership import MembershipService
from tumar.core.notifications import NotificationCounter
from tumar.core.notifier import Notifier
from tumar.core.oidc import OidcClient
from tumar.core.org_import import OrgImporter
from tumar.core.password_policy import PasswordPolicy
from tumar.core.passwords import Passwords
from tumar.core.presence import PresenceService
from tumar.core.profile import ProfileService
from tumar.core.push import PusherService, PushRuleService
from tumar.core.ratelimit import RateLimiter, SharedBuckets
from tumar.core.read_audit import ReadAudit
from tumar.core.reading import RoomReader
from tumar.core.relations import RelationReader
from tumar.core.reports import ReportService
from tumar.core.retention import RetentionService
from tumar.core.rollout import RolloutService
from tumar.core.room_creation import RoomCreator
from tumar.core.room_directory import RoomDirectory
from tumar.core.room_upgrade import RoomUpgrader
from tumar.core.rooms import RoomService
from tumar.core.search import SearchService
from tumar.core.server_notices import ServerNotices
from tumar.core.sso import SsoService
from tumar.core.staff_import import StaffImporter
from tumar.core.sync import SyncService
from tumar.core.sync_extras import SyncExtras
from tumar.core.tags import TagService
from tumar.core.to_device import ToDeviceService
from tumar.core.totp import TotpService
from tumar.core.typing import TypingService
from tumar.core.user_directory import UserDirectory
from tumar.core.userdata import UserDataService
from tumar.store.db import Database
from tumar.store.media_storage import FileMediaStorage, MediaStorage
from tumar.store.sealed_media import SealedMediaStorage


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    clock: Clock
    db: Database
    bus: Bus
    notifier: Notifier
    accounts: AccountService
    rooms: RoomService
    membership: MembershipService
    creator: RoomCreator
    reader: RoomReader
    relations: RelationReader
    push_rules: PushRuleService
    pushers: PusherService
    counter: NotificationCounter
    presence: PresenceService
    tags: TagService
    reports: ReportService
    room_directory: RoomDirectory
    room_upgrader: RoomUpgrader
    search: SearchService
    sync: SyncService
    typing: TypingService
    profile: ProfileService
    userdata: UserDataService
    media: MediaService
    directory: DirectoryService
    user_directory: UserDirectory
    audit: AuditReader
    staff_import: StaffImporter
    org_import: OrgImporter
    keys: KeyService
    to_device: ToDeviceService
    key_backup: KeyBackupService
    notices: ServerNotices
    rollout: RolloutService
    totp: TotpService
    sso: SsoService
    activation: ActivationService
    account_admin: AccountAdmin
    keyring: DataKeyring
    gov_notices: GovNoticeService
    notice_reports: NoticeReports
    notice_ticker: NoticeTicker
    labels: LabelAdmin
    at_rest: AtRest
    audit_chain: AuditChain
    audit_export: AuditExporter
    read_audit: ReadAudit
    compliance: ComplianceExporter
    retention: RetentionService
    legal_holds: LegalHoldService
    correspondence: CorrespondenceService  # registered official letters (issue 10)
    devices: DeviceService  # device policy: enrolment, check-ins, commands (issue 8)
    device_gate: DeviceGate  # conditional access by device (issue 8)
    device_dashboard: DeviceDashboard  # security officers' device dashboard (issue 8)

    async def start(self) -> None:
        if self.settings.auto_migrate:
            await self.db.migrate()
        self.notifier.floor = await self.db.current_position()
        await self.bus.start()
        await self.accounts.session_watch.start()
        await self.typing.start()
        self.notice_ticker.start()
        self.correspondence.start()
        self.audit_chain.start()
        self.read_audit.start()
        self.retention.start()

    async def close(self) -> None:
        await self.read_audit.close()  # writes the counts of the current window
        await self.audit_chain.close()
        await self.retention.stop()
        await self.notice_ticker.stop()
        await self.correspondence.stop()
        await self.accounts.session_watch.stop()
        self.typing.close()
        await self.bus.close()
        await self.db.close()


def build_services(
    settings: Settings,
    *,
    clock: Clock | None = None,
    db: Database | None = None,
    bus: Bus | None = None,
    media_storage: MediaStorage | None = None,
    key_provider: KeyProvider | None = None,
) -> Services:
    clock = clock or SystemClock()
    key_provider = key_provider or local_key_provider(settings)
    media_storage = media_storage or FileMediaStorage(settings.effective_media_dir)
    db = db or Database(
        settings.effective_database_url,
        pool_size=settings.database_pool_size,
        schema=settings.database_schema,
    )
    bus = bus or build_bus(settings, db)
    redis_bus = bus if isinstance(bus, RedisBus) else None  # several nodes: state in Redis
    buckets = SharedBuckets(redis_bus.client, redis_bus.key("ratelimit")) if redis_bus else None
    notifier = Notifier()
    bus.subscribe(notifier.on_doorbell)
    passwords = Passwords(
        time_cost=settings.argon2_time_cost, memory_kib=settings.argon2_memory_kib
    )
    login_limiter = RateLimiter(
        clock,
        per_second=settings.login_rate_per_second,
        burst=settings.login_rate_burst,
        enabled=settings.rate_limit_enabled,
        shared=buckets,
        name="login",
    )
    send_limiter = RateLimiter(
        clock,
        per_second=settings.rate_limit_per_second,
        burst=settings.rate_limit_burst,
        enabled=settings.rate_limit_enabled,
        shared=buckets,
        name="send",
    )
    to_device_limiter = RateLimiter(
        clock,
        per_second=settings.to_device_rate_per_second,
        burst=settings.to_device_rate_burst,
        enabled=settings.rate_limit_enabled,
        shared=buckets,
        name="to_device",
    )
    to_device = ToDeviceService(db, bus, clock, settings, to_device_limiter)
    password_policy = PasswordPolicy(settings)
    accounts = AccountService(
        db, clock, settings, passwords, login_limiter, bus=bus,
        guard=LoginGuard(db, clock, settings), policy=password_policy,
    )  # fmt: skip
    keyring = DataKeyring(db, key_provider, clock)
    audit_chain = AuditChain(db, clock, keyring, settings)
    at_rest = AtRest(
        keyring,
        labels=settings.classification_labels,
        floor=settings.encrypt_at_rest_from or None,
        unlabelled=settings.classification_default_room,
    )
    db.opener = at_rest  # every event read decrypts through it (store/events.py)
    if settings.encrypt_media_at_rest:
        media_storage = SealedMediaStorage(media_storage, at_rest.media_key)
    rooms = RoomService(
        db, bus, clock, settings, send_limiter, at_rest=at_rest, dlp=DlpGuard(settings, keyring)
    )
    typing = TypingService(bus, clock, settings.typing_max_timeout_ms, redis_bus)
    user_directory = UserDirectory(db, settings)
    membership = MembershipService(db, rooms, settings.server_name, guard=user_directory)
    totp = TotpService(db, clock, settings)
    notices = ServerNotices(db, rooms, membership, bus, clock, settings)
    devices = DeviceService(db, clock, settings, bus, notices)
    device_gate = DeviceGate(clock, settings, devices.policies)
    devices.checkins.on_access_change.append(device_gate.on_access_change)
    reader = RoomReader(db, clock, device_gate)
    push_rules = PushRuleService(db, bus)
    counter = NotificationCounter(db, clock, push_rules, limit=settings.unread_count_limit)
    presence = PresenceService(db, bus, clock, settings)
    notice_delivery = NoticeDelivery(db, rooms, notices, bus, clock, settings, notifier=notifier)
    rooms.event_hooks.append(notice_delivery.on_event)
    gov_notices = GovNoticeService(db, clock, settings, bus, notice_delivery)
    notice_reports = NoticeReports(db, clock, settings, gov_notices, notices)
    extras = SyncExtras(counter, push_rules, presence)
    sync = SyncService(db, notifier, typing, clock, to_device, extras, gate=device_gate)
    sync.before_build.append(notice_delivery.before_sync)
    sync.before_build.append(device_gate.before_sync)
    creator = RoomCreator(
        rooms, membership, db, bus, clock, settings.server_name, guard=user_directory
    )
    return Services(
        settings=settings,
        clock=clock,
        db=db,
        bus=bus,
        notifier=notifier,
        accounts=accounts,
        rooms=rooms,
        membership=membership,
        creator=creator,
        reader=reader,
        relations=RelationReader(db, clock, reader),
        sync=sync,
        push_rules=push_rules,
        pushers=PusherService(db, clock),
        counter=counter,
        presence=presence,
        tags=TagService(db, bus),
        reports=ReportService(db, clock, reader),
        room_directory=RoomDirectory(db, rooms, settings),
        room_upgrader=RoomUpgrader(
            db, bus, clock, rooms, membership, settings.server_name, guard=user_directory
        ),
        search=SearchService(db, clock, at_rest, device_gate),
        typing=typing,
        profile=ProfileService(db, accounts, rooms, user_directory),
        userdata=UserDataService(db, bus, clock),
        media=MediaService(db, media_storage, clock, settings, device_gate),
        directory=DirectoryService(db, clock, settings),
        user_directory=user_directory,
        audit=AuditReader(db),
        staff_import=StaffImporter(db, clock, settings, accounts, membership),
        org_import=OrgImporter(db, clock),
        keys=KeyService(db, bus, clock, settings),
        to_device=to_device,
        key_backup=KeyBackupService(db),
        notices=notices,
        rollout=RolloutService(db, clock, settings, notices),
        totp=totp,
        sso=SsoService(db, clock, settings, accounts, totp, OidcClient(clock), buckets),
        activation=ActivationService(db, clock, settings, passwords, password_policy),
        account_admin=AccountAdmin(db, clock, accounts, membership, passwords),
        labels=LabelAdmin(db, bus, clock, settings, rooms),
        keyring=keyring,
        gov_notices=gov_notices,
        notice_reports=notice_reports,
        notice_ticker=NoticeTicker(notice_reports, settings.gov_notices_tick_seconds),
        at_rest=at_rest,
        audit_chain=audit_chain,
        audit_export=AuditExporter(db, clock, audit_chain),
        read_audit=ReadAudit(db, clock, settings),
        compliance=ComplianceExporter(db, clock, audit_chain),
        retention=RetentionService(db, clock, settings, media_storage),
        legal_holds=LegalHoldService(db, clock),
        correspondence=build_correspondence(
            db,
            clock,
            settings,
            keyring,
            media_storage,
            notices,
            creator,
        ),
        devices=devices,
        device_gate=device_gate,
        device_dashboard=DeviceDashboard(db, clock, devices),
    )


def local_key_provider(settings: Settings) -> LocalKeyProvider:
    """The master keys from ``master_key``, else from ``master_key_file`` (by default
    ``DATA_DIR/master.key``, created on first use)."""
    if settings.master_key:
        return LocalKeyProvider(parse_key_lines(settings.master_key.replace(",", "\n")))
    path = settings.master_key_file or settings.data_dir / "master.key"
    return LocalKeyProvider.from_file(path, create=settings.master_key_file is None)
