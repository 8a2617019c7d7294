//! [`RouteOptimisation`]'s decisions against the correspondent of
//! [`mip6::cn`], in simulated time and without sockets.

use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

use mip6::cn::{answer_test_init, CnBindingCache, CnBuContext};
use mip6::consts::BeStatus;
use mip6::rr::Keygen;
use mip6::wire::mh::{BindingError, MhMessage, MhRepr};
use netcfg::xfrm::{Selector, XfrmEvent, XfrmProto};

use super::{ro_allowed, ro_config, RoAction, RouteOptimisation, DEFAULT_MAX_INITS};
use crate::config::model::RoPolicy;
use crate::config::Config;
use crate::mn::location::Location;

fn a(s: &str) -> Ipv6Addr {
    s.parse().unwrap_or(Ipv6Addr::UNSPECIFIED)
}

fn hoa() -> Ipv6Addr {
    a("2001:db8:1::100")
}
fn ha() -> Ipv6Addr {
    a("2001:db8:1::1")
}
fn coa() -> Ipv6Addr {
    a("2001:db8:2::100")
}
fn cn() -> Ipv6Addr {
    a("2001:db8:3::1")
}

/// An ACQUIRE for traffic of `proto` from the home address to `dst`.
fn acquire(dst: Ipv6Addr, proto: u8) -> XfrmEvent {
    let mut sel = Selector::hosts(hoa(), dst);
    sel.proto = proto;
    XfrmEvent::Acquire {
        proto: XfrmProto::Hao,
        src: hoa(),
        dst,
        sel,
        dir: None,
        priority: 20,
    }
}

fn kinds(actions: &[RoAction]) -> Vec<String> {
    actions
        .iter()
        .map(|a| match a {
            RoAction::InstallTrigger => "trigger".to_owned(),
            RoAction::RemoveTrigger => "-trigger".to_owned(),
            RoAction::Send { src, message, .. } => match message.message {
                MhMessage::HomeTestInit(_) if *src == hoa() => "HoTI".to_owned(),
                MhMessage::CareOfTestInit(_) => format!("CoTI from {src}"),
                ref m => format!("{m:?} from {src}"),
            },
            RoAction::MoveBinding { coa, .. } => format!("move to {coa}"),
            RoAction::InstallBindingAndSend { coa, .. } => format!("BU for {coa}"),
            RoAction::SendDeregistration { .. } => "dereg BU".to_owned(),
            RoAction::RemoveBinding { announce, .. } => format!("remove ({announce})"),
        })
        .collect()
}

/// A mobile node away at [`coa`] with the trigger in place, and the
/// correspondent answering it.
struct Lab {
    ro: RouteOptimisation,
    config: Config,
    t: Instant,
    k: Keygen,
    cache: CnBindingCache,
}

impl Lab {
    fn new(ack: bool) -> Lab {
        let config = Config {
            use_cn_bu_ack: ack,
            ..Config::default()
        };
        let mut ro = RouteOptimisation::new(true);
        let t = Instant::now();
        let out = ro.handle_home_registration(t, hoa(), Location::Nowhere, Some(coa()));
        assert_eq!(kinds(&out), ["trigger"]);
        Lab {
            ro,
            config,
            t,
            k: Keygen::new([7; 20], 40),
            cache: CnBindingCache::new(),
        }
    }

    fn acquire(&mut self) -> Vec<RoAction> {
        self.ro
            .handle_acquire(self.t, hoa(), ha(), acquire(cn(), 17), &self.config)
    }

    fn mh(&mut self, m: MhMessage, used: bool) -> Option<Vec<RoAction>> {
        let bytes = MhRepr::new(m).emit_without_checksum().ok()?;
        self.ro.handle_mh(self.t, hoa(), ha(), cn(), &bytes, used)
    }

    /// The correspondent's answers to the sends among `actions`, delivered;
    /// the actions that follow.
    fn answer(&mut self, actions: &[RoAction]) -> Vec<RoAction> {
        let mut out = Vec::new();
        for act in actions {
            match act {
                RoAction::Send { src, message, .. } => {
                    let reply =
                        answer_test_init(&mut self.k, self.t, src, &message.message, [0x33; 8]);
                    if let Some(r) = reply {
                        out.extend(self.mh(r.message, false).unwrap_or_default());
                    }
                }
                RoAction::InstallBindingAndSend { coa, message, .. } => {
                    let Ok(repr) = MhRepr::parse(message) else {
                        panic!("BU unparsable")
                    };
                    let MhMessage::BindingUpdate(bu) = repr.message else {
                        panic!("not a BU")
                    };
                    let ctx = CnBuContext {
                        home_address: hoa(),
                        packet_source: *coa,
                        correspondent: cn(),
                        bu,
                        options: &repr.options,
                        mh: message,
                        policy_allows: true,
                    };
                    let outcome = self.cache.handle_binding_update(self.t, &self.k, &ctx);
                    if let Some(ack) = outcome.ack() {
                        let Ok(bytes) = ack.emit() else { panic!("BA") };
                        let r = self.ro.handle_mh(self.t, hoa(), ha(), cn(), &bytes, false);
                        out.extend(r.unwrap_or_default());
                    }
                }
                _ => {}
            }
        }
        out
    }

    /// Return routability and the BU run to the binding.
    fn bind(&mut self) {
        let tests = self.acquire();
        let bu = self.answer(&tests);
        assert_eq!(kinds(&bu), [format!("BU for {}", coa())]);
        assert!(self.answer(&bu).is_empty(), "bound");
    }

    /// Runs the timers until `until`; the actions, in order.
    fn run_timers(&mut self, until: Instant) -> Vec<RoAction> {
        let mut out = Vec::new();
        while let Some(d) = self.ro.poll_timeout().filter(|d| *d <= until) {
            self.t = d;
            let used = self.ro.usage_wanted_at(d);
            out.extend(self.ro.handle_timeout(d, hoa(), &used));
        }
        out
    }
}

#[test]
fn an_acquire_starts_return_routability_once() {
    let mut lab = Lab::new(false);
    assert_eq!(
        kinds(&lab.acquire()),
        ["HoTI".to_owned(), format!("CoTI from {}", coa())]
    );
    assert!(lab.acquire().is_empty(), "already running");
    let (t, c) = (lab.t, lab.config.clone());
    let ignored = [
        acquire(cn(), mip6::consts::IPPROTO_MH),
        acquire(ha(), 17),
        acquire(a("2001:db8:3::2"), mip6::consts::IPPROTO_ICMPV6),
    ];
    for ev in ignored {
        assert!(lab.ro.handle_acquire(t, hoa(), ha(), ev, &c).is_empty());
    }
}

#[test]
fn nothing_without_acquires_or_away_from_a_registration() {
    let mut off = RouteOptimisation::new(false);
    let t = Instant::now();
    assert!(off
        .handle_home_registration(t, hoa(), Location::Nowhere, Some(coa()))
        .is_empty());
    let mut on = RouteOptimisation::new(true);
    assert!(on
        .handle_home_registration(t, hoa(), Location::Nowhere, None)
        .is_empty());
    let ev = acquire(cn(), 17);
    assert!(on
        .handle_acquire(t, hoa(), ha(), ev, &Config::default())
        .is_empty());
    let out = on.handle_home_registration(t, hoa(), Location::Nowhere, Some(coa()));
    assert_eq!(kinds(&out), ["trigger"]);
    on.trigger_failed();
    let again = on.handle_home_registration(t, hoa(), Location::Nowhere, Some(coa()));
    assert_eq!(kinds(&again), ["trigger"], "tried again on the next event");
}

#[test]
fn home_and_care_of_tests_give_the_bu_and_its_ba_binds() {
    let mut lab = Lab::new(true);
    let tests = lab.acquire();
    let bu = lab.answer(&tests);
    assert_eq!(kinds(&bu), [format!("BU for {}", coa())]);
    assert!(lab.answer(&bu).is_empty());
    // Bound: the next thing is the refresh at 90 % of 420 s.
    let next = lab.ro.poll_timeout();
    assert!(next.is_some_and(|d| d >= lab.t + Duration::from_secs(300)));
    // Used lately: both tests again (RFC 6275 §11.7.2).
    let refresh = next.unwrap_or(lab.t);
    assert_eq!(lab.ro.usage_wanted_at(refresh), [cn()]);
    let out = lab.run_timers(refresh);
    assert_eq!(
        kinds(&out),
        ["HoTI".to_owned(), format!("CoTI from {}", coa())]
    );
}

#[test]
fn an_unused_binding_is_left_to_expire_and_removed() {
    let mut lab = Lab::new(false);
    lab.bind();
    let end = lab.t + Duration::from_secs(500);
    let mut out = Vec::new();
    while let Some(d) = lab.ro.poll_timeout().filter(|d| *d <= end) {
        out.extend(lab.ro.handle_timeout(d, hoa(), &[]));
    }
    // The state goes at the end of the lifetime, and the entry with it.
    assert_eq!(kinds(&out), ["remove (false)", "remove (false)"]);
    assert!(lab.ro.poll_timeout().is_none(), "forgotten");
}

#[test]
fn a_binding_refresh_request_is_honoured_when_the_binding_is_used() {
    let mut lab = Lab::new(false);
    lab.bind();
    let brr = MhRepr::new(MhMessage::BindingRefreshRequest)
        .emit_without_checksum()
        .unwrap_or_default();
    assert_eq!(lab.ro.usage_wanted_for_mh(cn(), &brr, ha()), Some(cn()));
    assert_eq!(lab.ro.usage_wanted_for_mh(ha(), &brr, ha()), None);
    let ignored = lab.mh(MhMessage::BindingRefreshRequest, false);
    assert_eq!(ignored, Some(Vec::new()), "taken, nothing done");
    let out = lab.mh(MhMessage::BindingRefreshRequest, true);
    assert_eq!(
        kinds(&out.unwrap_or_default()),
        ["HoTI".to_owned(), format!("CoTI from {}", coa())]
    );
}

#[test]
fn a_binding_error_removes_the_state() {
    let mut lab = Lab::new(false);
    lab.bind();
    lab.t += Duration::from_secs(10);
    let be = |home_address| {
        MhMessage::BindingError(BindingError {
            status: BeStatus::UNKNOWN_BINDING_FOR_HAO,
            home_address,
        })
    };
    assert_eq!(lab.mh(be(a("2001:db8:9::1")), false), None, "not ours");
    let out = lab.mh(be(hoa()), false);
    assert_eq!(kinds(&out.unwrap_or_default()), ["remove (false)"]);
}

#[test]
fn tests_are_resent_then_a_silent_correspondent_is_left_alone() {
    let mut lab = Lab::new(false);
    let first = lab.acquire();
    assert_eq!(first.len(), 2);
    let out = lab.run_timers(lab.t + Duration::from_secs(300));
    let hotis = kinds(&out).iter().filter(|k| *k == "HoTI").count();
    assert_eq!(
        1 + hotis,
        DEFAULT_MAX_INITS as usize,
        "resent up to the limit: {:?}",
        kinds(&out)
    );
    let rest = lab.run_timers(lab.t + Duration::from_secs(1000));
    assert!(
        kinds(&rest).iter().all(|k| k.starts_with("remove")),
        "{:?}",
        kinds(&rest)
    );
    assert!(lab.ro.poll_timeout().is_none(), "given up");
    assert!(!lab.acquire().is_empty(), "the next packet starts again");
}

#[test]
fn the_home_registration_moves_ends_or_deregisters_the_bindings() {
    let mut lab = Lab::new(false);
    lab.bind();
    let new_coa = a("2001:db8:4::100");
    let t = lab.t;
    let out = lab
        .ro
        .handle_home_registration(t, hoa(), Location::Nowhere, Some(new_coa));
    assert_eq!(
        kinds(&out),
        [format!("move to {new_coa}"), format!("CoTI from {new_coa}")],
        "the home token is reused"
    );
    let home = lab
        .ro
        .handle_home_registration(t, hoa(), Location::Home(2), None);
    assert_eq!(
        kinds(&home),
        ["-trigger", "remove (false)", "HoTI"],
        "deregistration: home test first"
    );
    let mut gone = Lab::new(false);
    gone.bind();
    let t = gone.t;
    let out = gone
        .ro
        .handle_home_registration(t, hoa(), Location::Nowhere, None);
    assert_eq!(kinds(&out), ["remove (true)", "-trigger"]);
}

#[test]
fn mn_ro_policy_per_correspondent_then_wildcard() {
    let other = a("2001:db8:c::3");
    assert!(ro_allowed(&[], cn()), "no MnRoPolicy: allowed");
    let policies = [
        RoPolicy {
            cn: Ipv6Addr::UNSPECIFIED,
            route_optimization: false,
        },
        RoPolicy {
            cn: cn(),
            route_optimization: true,
        },
    ];
    assert!(ro_allowed(&policies, cn()));
    assert!(!ro_allowed(&policies, other));
    let cfg = ro_config(&Config::default());
    assert_eq!(cfg.lifetime, Duration::from_secs(420));
    assert_eq!(cfg.max_inits, DEFAULT_MAX_INITS);
    assert!(!cfg.ack);
}

/// A Parameter Problem about a packet `source` → `destination`.
fn param_problem(
    culprit: mip6::wire::param_problem::Culprit,
    source: Ipv6Addr,
    destination: Ipv6Addr,
    home_address_option: Option<Ipv6Addr>,
) -> mip6::wire::param_problem::ParamProblem {
    mip6::wire::param_problem::ParamProblem {
        culprit,
        source,
        destination,
        home_address_option,
    }
}

/// RFC 6275 §11.3.6: BE status 2 or a Parameter Problem about the MH or
/// the HAO of our packet to the correspondent: state removed, no return
/// routability with it for 420 s, then again.
#[test]
fn a_correspondent_without_mobile_ipv6_is_left_alone_for_420_s() {
    use mip6::wire::param_problem::Culprit;
    // BE status 2 during the tests.
    let mut lab = Lab::new(true);
    assert_eq!(lab.acquire().len(), 2);
    let be2 = MhMessage::BindingError(BindingError {
        status: BeStatus::UNRECOGNIZED_MH_TYPE,
        home_address: Ipv6Addr::UNSPECIFIED,
    });
    let out = lab.mh(be2, false).unwrap_or_default();
    assert_eq!(kinds(&out), ["remove (false)"]);
    lab.t += Duration::from_secs(30);
    assert!(lab.acquire().is_empty(), "left alone");
    assert!(
        lab.run_timers(lab.t + Duration::from_secs(60)).is_empty(),
        "no init"
    );
    lab.run_timers(lab.t + Duration::from_secs(400));
    lab.t += Duration::from_secs(400);
    assert_eq!(lab.acquire().len(), 2, "after 420 s, again");

    // Code 1 about the HoTI (through the tunnel, from the home address).
    let mut lab = Lab::new(true);
    lab.acquire();
    let mh = param_problem(Culprit::MobilityHeader, hoa(), cn(), None);
    let forged = lab
        .ro
        .handle_param_problem(lab.t, hoa(), a("2001:db8:9::9"), &mh);
    assert_eq!(forged, None, "not from the correspondent");
    let other = param_problem(Culprit::MobilityHeader, a("2001:db8:1::7"), cn(), None);
    assert_eq!(
        lab.ro.handle_param_problem(lab.t, hoa(), cn(), &other),
        None,
        "not ours"
    );
    let out = lab.ro.handle_param_problem(lab.t, hoa(), cn(), &mh);
    assert_eq!(kinds(&out.unwrap_or_default()), ["remove (false)"]);
    assert!(lab.acquire().is_empty());

    // Code 2 about the HAO of a packet from the CoA, after a binding.
    let mut lab = Lab::new(false);
    lab.bind();
    let hao = param_problem(Culprit::HomeAddressOption, coa(), cn(), Some(hoa()));
    let out = lab.ro.handle_param_problem(lab.t, hoa(), cn(), &hao);
    assert_eq!(kinds(&out.unwrap_or_default()), ["remove (false)"]);
    assert!(lab.acquire().is_empty());
}
