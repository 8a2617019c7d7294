//! The correspondent node (RFC 6275 §9), on every role as UMIP: it
//! answers Home and Care-of Test Inits, accepts route-optimisation Binding
//! Updates checked by [`mip6::cn`], and installs the kernel objects of
//! [`xfrm`] so traffic to a bound home address goes straight to the care-of
//! address with a Type 2 routing header, and what the mobile node sends
//! with a Home Address option is accepted.
//!
//! On the correspondent-node role it is the daemon's driver; on the home
//! agent and mobile node it runs beside theirs as a [`Companion`] with its
//! own MH socket (every raw MH socket gets a copy of each message; the home
//! agent keeps BUs with the H flag, this one everything else).
//!
//! A binding used in the last minute gets a Binding Refresh Request 2 s
//! before it expires (RFC 6275 §9.5.5).
//!
//! A packet with a Home Address option for which no binding exists (an XFRM
//! REPORT) gets a Binding Error with status 1, an unknown MH type one with
//! status 2 (RFC 6275 §9.2, §9.3.1).
//!
//! The binding cache goes to D-Bus (`org.umip_rs.Mip6d1.Correspondent`) at
//! most once per [`PUBLISH_EVERY`], when it changed.
//!
//! It holds at most `CnMaxBindings` bindings and nonce-block entries (each
//! binding is kernel XFRM state); past that a new binding gets BA status 130
//! ([`mip6::cn`], docs/compat.md). What unauthenticated packets make it log
//! (test inits answered, BUs dropped or refused, the refusals' BAs, unknown
//! MH types, Home Address options without a binding, Binding Errors) is
//! limited to [`LOG_BURST`] lines of each kind per source address per
//! [`LOG_INTERVAL`], the rest counted and reported with the next line.

mod driver;
mod error;
pub mod xfrm;

use std::collections::HashMap;
use std::net::Ipv6Addr;
use std::time::Duration;

use daemon::ratelimit::{Admit, RateLimit};
use mip6::cn::{
    answer_test_init, CnBinding, CnBindingCache, CnBuContext, CnBuOutcome, CnChange,
    BRR_IF_USED_WITHIN,
};
use mip6::consts::BeStatus;
use mip6::rr::{Kcn, Keygen};
use mip6::wire::mh::{BindingError, MhMessage, MhRepr};
use mip6::wire::WireError;
use netcfg::xfrm::{XfrmEvent, XfrmEvents, XfrmGroups, XfrmProto};
use tokio::time::Instant;
use tracing::{debug, error, info, warn};

use crate::config::{Config, Role};
use crate::kernel::raw::{MhSocket, Received};
use crate::kernel::Kernel;
use crate::publish::Publisher;
use crate::random;
pub use driver::{run, Companion};
pub use error::StartError;
use xfrm::BindingObjects;

/// The shortest interval between two D-Bus updates of the binding cache.
pub const PUBLISH_EVERY: Duration = Duration::from_secs(1);
/// The shortest interval between two Binding Errors (the kernel's REPORTs
/// are rate-limited too; unknown MH types are not).
pub const BE_INTERVAL: Duration = Duration::from_millis(100);
/// Log lines of one kind a source address can cause per [`LOG_INTERVAL`].
pub const LOG_BURST: u32 = 10;
/// See [`LOG_BURST`].
pub const LOG_INTERVAL: Duration = Duration::from_secs(60);
/// (Source address, kind of line) pairs the log limit tracks one by one
/// (past that they share one window: daemon::ratelimit).
pub const LOG_SOURCES: usize = 1024;

/// What a rate-limited log line is about: each kind has its own budget per
/// source, so a flood of one kind does not hide the others (a legitimate
/// mobile node's refused BU, say).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum LogKind {
    TestInit,
    UnknownType,
    BuDropped,
    BuRefused,
    HaoWithoutBinding,
    BindingError,
}

/// The cache's limit from `CnMaxBindings`.
fn max_bindings(config: &Config) -> usize {
    usize::try_from(config.cn_max_bindings).unwrap_or(usize::MAX)
}

/// The end of a rate-limited log line: how many were left out before it.
fn suppressed_note(suppressed: u64) -> String {
    if suppressed == 0 {
        String::new()
    } else {
        format!(" ({suppressed} more from this source suppressed)")
    }
}

/// `CnBindingPolicySet` for this peer and our address (an entry whose local
/// address is `::` or ours; the first that matches), else
/// `DoRouteOptimizationCN`.
pub fn binding_allowed(config: &Config, hoa: Ipv6Addr, local: Ipv6Addr) -> bool {
    config
        .cn_binding_policy
        .iter()
        .find(|p| p.peer == hoa && (p.local.is_unspecified() || p.local == local))
        .map_or(config.do_route_optimization_cn, |p| p.allow)
}

/// What the correspondent node acts through; what it decides goes out here.
struct Io {
    kernel: Kernel,
    mh: MhSocket,
    publisher: Publisher,
    /// XFRM REPORTs: a Home Address option without a binding.
    reports: Option<XfrmEvents>,
}

/// The correspondent node's state.
struct Correspondent {
    config: Config,
    role: Role,
    io: Io,
    keygen: Keygen,
    cache: CnBindingCache,
    objects: HashMap<(Ipv6Addr, Ipv6Addr), BindingObjects>,
    publish_at: Option<Instant>,
    /// When the last Binding Error went out (they are rate-limited).
    last_be: Option<Instant>,
    /// Log lines per source address.
    log_limit: RateLimit<(Ipv6Addr, LogKind)>,
}

impl Correspondent {
    async fn start(config: Config, publisher: Publisher) -> Result<Correspondent, StartError> {
        let role = config.node_config;
        // No entropy gives all zeros: a correspondent that cannot keep its
        // tokens secret must not hand any out.
        let kcn: Kcn = random::secret();
        if kcn == [0; 20] {
            return Err(StartError::NoRandom);
        }
        let mh = MhSocket::open().map_err(StartError::MhSocket)?;
        if role == Role::HomeAgent {
            // The home agent's own socket answers them; reading each one
            // here too would double the home agent's cost per BU.
            if let Err(e) = mh.drop_home_binding_updates() {
                warn!("correspondent node: home BUs not filtered out: {e}");
            }
        }
        let mut kernel = Kernel::open().map_err(StartError::Netlink)?;
        if role != Role::HomeAgent {
            if let Err(e) = xfrm::install_base(&mut kernel).await {
                kernel.teardown().await;
                return Err(StartError::Xfrm(e));
            }
        }
        let reports = match XfrmEvents::subscribe(XfrmGroups {
            acquire: false,
            report: true,
        }) {
            Ok(r) => Some(r),
            Err(e) => {
                warn!("correspondent node: no Binding Errors for unknown bindings: {e}");
                None
            }
        };
        let first_index = u16::from_be_bytes(random::secret());
        let limit = max_bindings(&config);
        Ok(Correspondent {
            config,
            role,
            io: Io {
                kernel,
                mh,
                publisher,
                reports,
            },
            keygen: Keygen::new(kcn, first_index),
            cache: CnBindingCache::with_limit(limit),
            objects: HashMap::new(),
            publish_at: None,
            last_be: None,
            log_limit: RateLimit::new(LOG_INTERVAL, LOG_BURST, LOG_SOURCES),
        })
    }

    /// `Some(note)` if a log line caused by `source` may be written now
    /// ([`LOG_BURST`]), the note saying how many were suppressed before it.
    fn may_log(&mut self, source: Ipv6Addr, kind: LogKind) -> Option<String> {
        match self
            .log_limit
            .check(Instant::now().into_std(), &(source, kind))
        {
            Admit::Yes { suppressed } => Some(suppressed_note(suppressed)),
            Admit::No => None,
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        let expiry = self.cache.poll_timeout().map(Instant::from_std);
        [expiry, self.publish_at].into_iter().flatten().min()
    }

    async fn on_mh(&mut self, msg: Received) {
        let repr = match MhRepr::parse(&msg.payload) {
            Ok(r) => r,
            Err(WireError::UnknownMhType(t)) => {
                // RFC 6275 §9.2: status 2, to the packet's source as sent.
                let to = msg.hao.unwrap_or(msg.src);
                let home = if msg.hao.is_some() {
                    msg.src
                } else {
                    Ipv6Addr::UNSPECIFIED
                };
                if let Some(note) = self.may_log(to, LogKind::UnknownType) {
                    info!("CN: unknown MH type {t} from {to}{note}");
                }
                self.send_binding_error(msg.dst, to, BeStatus::UNRECOGNIZED_MH_TYPE, home)
                    .await;
                return;
            }
            Err(e) => {
                debug!("CN: malformed MH from {}: {e}", msg.src);
                return;
            }
        };
        let now = Instant::now().into_std();
        match repr.message {
            MhMessage::HomeTestInit(_) | MhMessage::CareOfTestInit(_) => {
                let name = if matches!(repr.message, MhMessage::HomeTestInit(_)) {
                    "HoTI"
                } else {
                    "CoTI"
                };
                if msg.hao.is_some() {
                    debug!(
                        "CN: {name} from {} with a Home Address option dropped",
                        msg.src
                    );
                    return;
                }
                let Some(reply) = answer_test_init(
                    &mut self.keygen,
                    now,
                    &msg.src,
                    &repr.message,
                    random::secret(),
                ) else {
                    return;
                };
                let reply_name = if name == "HoTI" { "HoT" } else { "CoT" };
                if let Some(note) = self.may_log(msg.src, LogKind::TestInit) {
                    info!(
                        "CN: {name} from {} answered with {reply_name}{note}",
                        msg.src
                    );
                }
                self.send(msg.dst, msg.src, &reply).await;
            }
            MhMessage::BindingUpdate(bu) => {
                if self.role == Role::HomeAgent && bu.flags.contains(mip6::wire::mh::BuFlags::HOME)
                {
                    // The home agent's own socket answers home registrations.
                    return;
                }
                let home_address = msg.src;
                let packet_source = msg.hao.unwrap_or(msg.src);
                let ctx = CnBuContext {
                    home_address,
                    packet_source,
                    correspondent: msg.dst,
                    bu,
                    options: &repr.options,
                    mh: &msg.payload,
                    policy_allows: binding_allowed(&self.config, home_address, msg.dst),
                };
                let outcome = self.cache.handle_binding_update(now, &self.keygen, &ctx);
                self.apply(&outcome, bu.sequence, home_address, packet_source)
                    .await;
            }
            _ => {}
        }
    }

    async fn apply(&mut self, outcome: &CnBuOutcome, seq: u16, hoa: Ipv6Addr, src: Ipv6Addr) {
        // Drops and refusals are what anyone can cause: their lines (and
        // the refusals' BA lines) are limited per source as sent.
        let note = match outcome {
            CnBuOutcome::Done(..) => Some(String::new()),
            CnBuOutcome::Dropped(_) => self.may_log(src, LogKind::BuDropped),
            CnBuOutcome::Rejected(_) => self.may_log(src, LogKind::BuRefused),
        };
        match outcome {
            CnBuOutcome::Dropped(reason) => {
                if let Some(note) = &note {
                    info!("CN: BU from {hoa} (from {src}, seq {seq}) dropped: {reason:?}{note}");
                }
            }
            CnBuOutcome::Rejected(ack) => {
                if let Some(note) = &note {
                    info!(
                        "CN: BU from {hoa} (from {src}, seq {seq}) refused: {}{note}",
                        ack.status
                    );
                }
            }
            CnBuOutcome::Done(
                CnChange::Installed {
                    binding,
                    previous_coa,
                },
                _,
            ) => {
                let ok = self.install(binding, *previous_coa).await;
                if ok {
                    info!(
                        "CN: route optimisation binding {} -> {} at {} (seq {}, lifetime {} s)",
                        binding.home_address,
                        binding.care_of_address,
                        binding.correspondent,
                        binding.sequence,
                        binding.lifetime.as_secs()
                    );
                }
                self.mark_changed();
            }
            CnBuOutcome::Done(CnChange::Removed(binding), _) => {
                info!(
                    "CN: route optimisation binding of {} deregistered",
                    binding.home_address
                );
                self.uninstall(binding).await;
                self.mark_changed();
            }
        }
        if let Some(ack) = outcome.ack() {
            let bytes = match ack.emit() {
                Ok(b) => b,
                Err(e) => {
                    warn!("CN: cannot build the BA: {e}");
                    return;
                }
            };
            if note.is_some() {
                info!(
                    "CN: BA ({}) to {} via {}",
                    ack.status, ack.home_address, ack.care_of_address
                );
            }
            if let Err(e) = self
                .io
                .mh
                .send_message(ack.correspondent, ack.home_address, 0, ack.via(), &bytes)
                .await
            {
                warn!("CN: cannot send the BA to {}: {e}", ack.home_address);
            }
        }
    }

    /// Installs or moves a binding's kernel objects; on failure the binding
    /// is dropped again (traffic keeps going through the home agent).
    async fn install(&mut self, b: &CnBinding, previous_coa: Option<Ipv6Addr>) -> bool {
        let key = (b.correspondent, b.home_address);
        let (cn, hoa, coa) = (b.correspondent, b.home_address, b.care_of_address);
        let r = match (self.objects.contains_key(&key), previous_coa) {
            (true, Some(old)) if old == coa => Ok(()),
            (true, _) => BindingObjects::move_to(&mut self.io.kernel, cn, hoa, coa).await,
            (false, _) => BindingObjects::install(&mut self.io.kernel, cn, hoa, coa)
                .await
                .map(|o| {
                    self.objects.insert(key, o);
                }),
        };
        if let Err(e) = r {
            error!("CN: cannot install the route optimisation state for {hoa}: {e}");
            self.uninstall(b).await;
            return false;
        }
        true
    }

    async fn uninstall(&mut self, b: &CnBinding) {
        if let Some(mut o) = self.objects.remove(&(b.correspondent, b.home_address)) {
            o.remove(&mut self.io.kernel).await;
        }
    }

    async fn send(&self, src: Ipv6Addr, dst: Ipv6Addr, repr: &MhRepr) {
        match repr.emit_without_checksum() {
            Ok(bytes) => {
                if let Err(e) = self.io.mh.send_message(src, dst, 0, None, &bytes).await {
                    warn!(
                        "CN: cannot send MH type {} to {dst}: {e}",
                        repr.message.mh_type()
                    );
                }
            }
            Err(e) => warn!("CN: cannot build MH type {}: {e}", repr.message.mh_type()),
        }
    }

    /// An XFRM REPORT: a packet with a Home Address option and no binding
    /// was refused; status 1 to the address it came from (RFC 6275 §9.3.1).
    async fn on_report(&mut self, ev: XfrmEvent) {
        let XfrmEvent::Report {
            proto: XfrmProto::Hao,
            sel,
            addr: Some(coa),
        } = ev
        else {
            return;
        };
        let (home, us) = (sel.src, sel.dst);
        if self.cache.get(&us, &home).is_some() || us.is_unspecified() {
            return;
        }
        if let Some(note) = self.may_log(coa, LogKind::HaoWithoutBinding) {
            info!("CN: Home Address option from {coa} for {home} without a binding{note}");
        }
        self.send_binding_error(us, coa, BeStatus::UNKNOWN_BINDING_FOR_HAO, home)
            .await;
    }

    /// At most one Binding Error per [`BE_INTERVAL`].
    async fn send_binding_error(
        &mut self,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        status: BeStatus,
        home_address: Ipv6Addr,
    ) {
        let now = Instant::now();
        if self.last_be.is_some_and(|t| now < t + BE_INTERVAL) {
            return;
        }
        self.last_be = Some(now);
        if let Some(note) = self.may_log(dst, LogKind::BindingError) {
            info!("CN: BE ({status}) to {dst}{note}");
        }
        let be = MhRepr::new(MhMessage::BindingError(BindingError {
            status,
            home_address,
        }));
        self.send(src, dst, &be).await;
    }

    fn mark_changed(&mut self) {
        if self.publish_at.is_none() {
            self.publish_at = Some(Instant::now() + PUBLISH_EVERY);
        }
    }

    async fn on_timer(&mut self) {
        let now = Instant::now();
        for b in self.cache.handle_timeout(now.into_std()) {
            info!(
                "CN: route optimisation binding of {} expired",
                b.home_address
            );
            self.uninstall(&b).await;
            self.mark_changed();
        }
        for b in self.cache.refresh_requests_due(now.into_std()) {
            if self.recently_used(&b).await {
                info!("CN: BRR to {} via {}", b.home_address, b.care_of_address);
                let brr = MhRepr::new(MhMessage::BindingRefreshRequest);
                match brr.emit_without_checksum() {
                    Ok(bytes) => {
                        let r = self
                            .io
                            .mh
                            .send_message(
                                b.correspondent,
                                b.home_address,
                                0,
                                Some(b.care_of_address),
                                &bytes,
                            )
                            .await;
                        if let Err(e) = r {
                            warn!("CN: cannot send the BRR to {}: {e}", b.home_address);
                        }
                    }
                    Err(e) => warn!("CN: BRR: {e}"),
                }
            }
        }
        if self.publish_at.is_some_and(|t| t <= now) {
            self.publish_at = None;
            self.io.publisher.correspondent(self.bus_state()).await;
        }
    }

    /// True if the kernel sent with the binding's RH2 state within
    /// [`BRR_IF_USED_WITHIN`] (`XFRMA_LASTUSED`).
    async fn recently_used(&self, b: &CnBinding) -> bool {
        let id = netcfg::xfrm::XfrmState::ro(
            XfrmProto::Route2,
            b.correspondent,
            b.home_address,
            b.care_of_address,
        )
        .id();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        matches!(
            self.io.kernel.xfrm.get_state(&id).await,
            Ok(Some(s)) if s.last_used.is_some_and(|t| now.saturating_sub(t) <= BRR_IF_USED_WITHIN.as_secs())
        )
    }

    fn bus_state(&self) -> Vec<bus::BindingInfo> {
        self.cache
            .iter()
            .map(|b| bus::BindingInfo {
                home_address: b.home_address,
                care_of_address: b.care_of_address,
                local_address: Some(b.correspondent),
                lifetime: b.lifetime,
                expires: b.expires,
                sequence: b.sequence,
                flags: b.flags.0,
                state: bus::BindingState::Cached,
            })
            .collect()
    }

    async fn shutdown(&mut self) {
        for b in self.cache.drain() {
            self.uninstall(&b).await;
        }
        self.io.kernel.teardown().await;
    }
}

#[cfg(test)]
mod tests;
