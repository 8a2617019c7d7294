//! Writes the seed corpus: a handful of valid inputs per fuzz target, built
//! with the crates' own emitters (so they stay valid as the formats evolve),
//! plus the configuration files the test suites already hold.
//!
//! Usage (from the repository root): `cargo run --manifest-path
//! fuzz/seeds/Cargo.toml -- fuzz/corpus`. Event-driven targets (`mip6_cn`,
//! `mip6_ha_bu`, `teredo_relay`) get byte strings in the layout their
//! decoder reads; keep the helpers here in step with those targets.

use std::fs;
use std::net::Ipv6Addr;
use std::path::{Path, PathBuf};

use mip6::consts::{BaStatus, BeStatus};
use mip6::wire::{
    BaFlags, BindingAck, BindingError, BindingUpdate, BuFlags, DhaadReply, DhaadRequest, HaoRepr,
    HomeAgentInfo, MhMessage, MhRepr, MobilePrefixAdvert, MobilePrefixSolicit, MobilityOption,
    NdOption, NdRepr, NeighborAdvert, NeighborSolicit, PrefixInfo, Rh2Repr, RouterAdvert,
    RouterSolicit, TestInit, TestReply,
};

mod teredo_seeds;
mod tun_seeds;

use teredo_seeds::{teredo_mire, teredo_packet, teredo_relay, teredo_server, udp_batch};

type Seeds = Vec<(&'static str, Vec<u8>)>;

fn a6(s: &str) -> Ipv6Addr {
    s.parse().unwrap_or(Ipv6Addr::UNSPECIFIED)
}

const LL: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
/// The identifier the ND target's clients use (`FIRST_ID` there).
const FIRST_ID: u16 = 0x1234;

fn main() -> std::io::Result<()> {
    let out = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "fuzz/corpus".into()),
    );
    let root = out.join("../..");
    write(&out, "mh_packet", mh_packet())?;
    write(&out, "mip6_ndisc", ndisc())?;
    write(&out, "mip6_cn", cn())?;
    write(&out, "mip6_ha_bu", ha_bu())?;
    write(&out, "mip6_saved_cache", saved_cache())?;
    write(&out, "netcfg_recv", netcfg_recv())?;
    write(&out, "teredo_packet", teredo_packet())?;
    write(&out, "teredo_server", teredo_server())?;
    write(&out, "teredo_relay", teredo_relay())?;
    write(&out, "teredo_mire", teredo_mire())?;
    write(&out, "udp_batch", udp_batch())?;
    write(&out, "tun_offload", tun_seeds::tun_offload())?;
    write(&out, "mip6d_conf", files(&root, "mip6d/tests/data", "ok_")?)?;
    write(
        &out,
        "miredo_conf",
        files(&root, "miredo/tests/data/conf", "ok_")?,
    )?;
    Ok(())
}

fn write(out: &Path, target: &str, seeds: Seeds) -> std::io::Result<()> {
    let dir = out.join(target);
    fs::create_dir_all(&dir)?;
    for (name, bytes) in seeds {
        fs::write(dir.join(name), bytes)?;
    }
    Ok(())
}

/// Binding cache files as the home agent writes them: empty, a mobile node
/// with the L and K flags, a mobile router with its prefixes.
fn saved_cache() -> Seeds {
    use mip6::bcache::saved::{encode, SavedBinding};
    let node = SavedBinding {
        home_address: a6("2001:db8:1::100"),
        care_of_address: a6("2001:db8:a::5"),
        home_agent: a6("2001:db8:1::2"),
        flags: BuFlags(BuFlags::ACK | BuFlags::HOME | BuFlags::LINK_LOCAL | BuFlags::KEY_MGMT),
        sequence: 4711,
        lifetime_secs: 420,
        expires_unix: 1_800_000_300,
        interface: "eth0".to_owned(),
        mobile_network_prefixes: Vec::new(),
    };
    let router = SavedBinding {
        home_address: a6("2001:db8:1::200"),
        flags: BuFlags(BuFlags::ACK | BuFlags::HOME | BuFlags::MOBILE_ROUTER),
        mobile_network_prefixes: vec![(a6("2001:db8:50::"), 64), (a6("2001:db8:51::"), 48)],
        ..node.clone()
    };
    vec![
        ("empty", encode(&[]).into_bytes()),
        ("node", encode(std::slice::from_ref(&node)).into_bytes()),
        ("node_and_router", encode(&[node, router]).into_bytes()),
    ]
}

fn files(root: &Path, dir: &str, prefix: &str) -> std::io::Result<Seeds> {
    let mut seeds = Seeds::new();
    let mut names: Vec<_> = fs::read_dir(root.join(dir))?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix))
        })
        .collect();
    names.sort();
    for p in names {
        let name = p
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("x")
            .to_owned();
        seeds.push((Box::leak(name.into_boxed_str()), fs::read(&p)?));
    }
    Ok(seeds)
}

fn mh(message: MhMessage, options: Vec<MobilityOption>) -> Vec<u8> {
    let mut r = MhRepr::new(message);
    r.options = options;
    r.emit(&LL, &ALL_NODES).unwrap_or_default()
}

fn mh_packet() -> Seeds {
    let hoa = a6("2001:db8:1::100");
    let bu = |flags| {
        MhMessage::BindingUpdate(BindingUpdate {
            sequence: 10,
            flags: BuFlags(flags),
            lifetime_units: 150,
        })
    };
    vec![
        ("brr", mh(MhMessage::BindingRefreshRequest, vec![])),
        (
            "hoti",
            mh(MhMessage::HomeTestInit(TestInit { cookie: [1; 8] }), vec![]),
        ),
        (
            "coti",
            mh(
                MhMessage::CareOfTestInit(TestInit { cookie: [2; 8] }),
                vec![],
            ),
        ),
        (
            "hot",
            mh(
                MhMessage::HomeTest(TestReply {
                    nonce_index: 3,
                    cookie: [1; 8],
                    keygen_token: [9; 8],
                }),
                vec![],
            ),
        ),
        (
            "bu_home_alt_coa",
            mh(
                bu(BuFlags::ACK | BuFlags::HOME),
                vec![MobilityOption::AlternateCoa(a6("2001:db8:a::50"))],
            ),
        ),
        (
            "bu_mr_prefix",
            mh(
                bu(BuFlags::ACK | BuFlags::HOME | BuFlags::MOBILE_ROUTER),
                vec![MobilityOption::MobileNetworkPrefix {
                    prefix_len: 64,
                    prefix: a6("2001:db8:10::"),
                }],
            ),
        ),
        (
            "bu_ro_signed",
            mh(
                bu(BuFlags::ACK),
                vec![
                    MobilityOption::NonceIndices {
                        home: 1,
                        care_of: 2,
                    },
                    MobilityOption::BindingAuthData(vec![0xab; 12]),
                ],
            ),
        ),
        (
            "ba_refresh",
            mh(
                MhMessage::BindingAck(BindingAck {
                    status: BaStatus::ACCEPTED,
                    flags: BaFlags(0),
                    sequence: 10,
                    lifetime_units: 150,
                }),
                vec![MobilityOption::BindingRefreshAdvice {
                    interval_units: 100,
                }],
            ),
        ),
        (
            "be",
            mh(
                MhMessage::BindingError(BindingError {
                    status: BeStatus::UNKNOWN_BINDING_FOR_HAO,
                    home_address: hoa,
                }),
                vec![],
            ),
        ),
        (
            "hao",
            HaoRepr {
                next_header: 135,
                home_address: hoa,
            }
            .emit()
            .to_vec(),
        ),
        (
            "rh2",
            Rh2Repr {
                next_header: 135,
                segments_left: 1,
                home_address: hoa,
            }
            .emit()
            .to_vec(),
        ),
    ]
}

fn nd(m: NdRepr) -> Vec<u8> {
    m.emit(&LL, &ALL_NODES).unwrap_or_default()
}

fn ndisc() -> Seeds {
    let pio = |flags, prefix| {
        NdOption::PrefixInfo(PrefixInfo {
            prefix_len: 64,
            flags,
            valid_lifetime: 86400,
            preferred_lifetime: 14400,
            prefix,
        })
    };
    let ha_pio = pio(
        PrefixInfo::ON_LINK | PrefixInfo::AUTONOMOUS | PrefixInfo::ROUTER_ADDRESS,
        a6("2001:db8:1::1"),
    );
    vec![
        (
            "rs",
            nd(NdRepr::RouterSolicit(RouterSolicit {
                options: vec![NdOption::SourceLinkLayer(vec![2, 0, 0, 0, 0, 1])],
            })),
        ),
        (
            "ra_home_agent",
            nd(NdRepr::RouterAdvert(RouterAdvert {
                cur_hop_limit: 64,
                flags: RouterAdvert::HOME_AGENT,
                router_lifetime: 1800,
                reachable_time: 0,
                retrans_timer: 0,
                options: vec![
                    NdOption::SourceLinkLayer(vec![2, 0, 0, 0, 0, 1]),
                    NdOption::Mtu(1500),
                    NdOption::AdvInterval(3000),
                    NdOption::HomeAgentInfo(HomeAgentInfo {
                        preference: 10,
                        lifetime: 1800,
                        mobile_router: true,
                    }),
                    ha_pio.clone(),
                ],
            })),
        ),
        (
            "ns",
            nd(NdRepr::NeighborSolicit(NeighborSolicit {
                target: a6("2001:db8:1::100"),
                options: vec![],
            })),
        ),
        (
            "na",
            nd(NdRepr::NeighborAdvert(NeighborAdvert {
                flags: 0x20,
                target: a6("2001:db8:1::100"),
                options: vec![NdOption::TargetLinkLayer(vec![2, 0, 0, 0, 0, 2])],
            })),
        ),
        (
            "dhaad_request",
            nd(NdRepr::DhaadRequest(DhaadRequest {
                identifier: FIRST_ID,
                flags: 0x8000,
            })),
        ),
        (
            "dhaad_reply",
            nd(NdRepr::DhaadReply(DhaadReply {
                identifier: FIRST_ID,
                flags: 0,
                home_agents: vec![a6("2001:db8:1::1"), a6("2001:db8:1::2")],
            })),
        ),
        (
            "mps",
            nd(NdRepr::MobilePrefixSolicit(MobilePrefixSolicit {
                identifier: FIRST_ID,
            })),
        ),
        (
            "mpa",
            nd(NdRepr::MobilePrefixAdvert(MobilePrefixAdvert {
                identifier: FIRST_ID,
                flags: 0,
                options: vec![pio(
                    PrefixInfo::ON_LINK | PrefixInfo::AUTONOMOUS,
                    a6("2001:db8:1::"),
                )],
            })),
        ),
    ]
}

/// Indices into the event targets' address table (`common/input.rs`).
const HOA: u8 = 0;
const COA: u8 = 2;
const CN: u8 = 3;
const COA2: u8 = 5;

fn cn() -> Seeds {
    // Events (see mip6_cn.rs): 0 test init (addr, care-of?, cookie),
    // 2 signed BU (hoa, source, cn, alt?, seq, flags, dereg?, [lifetime],
    // policy), 4 raw BU (hoa, source, cn, policy, len, octets), 5 time.
    let hoti = [0, HOA, 0, 1, 1, 1, 1, 1, 1, 1, 1];
    let coti = [0, COA, 1, 2, 2, 2, 2, 2, 2, 2, 2];
    let bu = |seq: u8, dereg: u8| {
        let mut v = vec![2, HOA, COA, CN, 0, 0, seq, 0x80, 0, dereg];
        if dereg == 0 {
            v.extend([0, 100]);
        }
        v.push(1);
        v
    };
    let mut register = vec![0, 100];
    register.extend(hoti);
    register.extend(coti);
    register.extend(bu(1, 0));
    let mut refresh = register.clone();
    refresh.extend([5, 0x0c, 0x00]); // 50 s later
    refresh.extend(bu(2, 0));
    refresh.extend([5, 0xff, 0xff]); // past the end of the binding
    let mut dereg = register.clone();
    dereg.extend(bu(2, 1));
    let mut raw = register.clone();
    let forged = mh(
        MhMessage::BindingUpdate(BindingUpdate {
            sequence: 9,
            flags: BuFlags(BuFlags::ACK),
            lifetime_units: 100,
        }),
        vec![
            MobilityOption::NonceIndices {
                home: 100,
                care_of: 100,
            },
            MobilityOption::BindingAuthData(vec![0; 12]),
        ],
    );
    raw.extend([4, HOA, COA, CN, 1, forged.len() as u8]);
    raw.extend(forged);
    vec![
        ("register", register),
        ("refresh_and_expire", refresh),
        ("deregister", dereg),
        ("forged_bu", raw),
    ]
}

fn ha_bu() -> Seeds {
    // Events (see mip6_ha_bu.rs): 0 BU (hoa, source, seq, flags, dereg?,
    // [lifetime], option kind [+ data], context flags, [prefix valid,
    // preferred], max life), 3 DAD done (hoa, duplicate?), 4 time (secs,
    // remove?).
    let bu = |seq: u8, flags: u8, dereg: u8, opt: &[u8]| {
        let mut v = vec![0, HOA, COA, 0, seq, flags, 0, dereg];
        if dereg == 0 {
            v.extend([0, 150]);
        }
        v.extend(opt);
        // Context flags 0 (every check passes), home prefix valid 65535 s
        // and preferred 14400 s, cap 65535 units.
        v.extend([0, 0xff, 0xff, 0x38, 0x40, 0xff, 0xff]);
        v
    };
    let ah = 0xc0;
    let mut register = bu(1, ah, 0, &[0]);
    register.extend([3, HOA, 0]);
    let mut moved = register.clone();
    moved.extend(bu(2, ah, 0, &[1, COA2]));
    moved.extend([4, 0x02, 0x58, 1]); // 600 s: expires
    let mut dereg = register.clone();
    dereg.extend(bu(2, ah, 1, &[0]));
    let mut duplicate = bu(1, ah, 0, &[0]);
    duplicate.extend([3, HOA, 1]);
    let mr = bu(1, ah | 0x04, 0, &[2]);
    vec![
        ("register", register),
        ("move_and_expire", moved),
        ("deregister", dereg),
        ("dad_duplicate", duplicate),
        ("mobile_router", mr),
    ]
}

fn cmsg(level: libc::c_int, ty: libc::c_int, data: &[u8]) -> Vec<u8> {
    // struct cmsghdr { size_t len; int level; int type; } then the data,
    // padded to the size of a size_t (Linux, 64-bit).
    let hdr = std::mem::size_of::<libc::cmsghdr>();
    let mut v = Vec::new();
    v.extend_from_slice(&(hdr + data.len()).to_ne_bytes());
    v.extend_from_slice(&level.to_ne_bytes());
    v.extend_from_slice(&ty.to_ne_bytes());
    v.extend_from_slice(data);
    v.resize(v.len().div_ceil(8) * 8, 0);
    v
}

fn netcfg_recv() -> Seeds {
    let hoa = a6("2001:db8:1::100");
    let mut pktinfo = hoa.octets().to_vec();
    pktinfo.extend_from_slice(&3u32.to_ne_bytes());
    let rh2 = Rh2Repr {
        next_header: 135,
        segments_left: 0,
        home_address: a6("2001:db8:a::50"),
    }
    .emit();
    let hao = HaoRepr {
        next_header: 135,
        home_address: a6("2001:db8:a::50"),
    }
    .emit();
    let mut all = cmsg(libc::IPPROTO_IPV6, libc::IPV6_PKTINFO, &pktinfo);
    all.extend(cmsg(
        libc::IPPROTO_IPV6,
        libc::IPV6_HOPLIMIT,
        &255i32.to_ne_bytes(),
    ));
    all.extend(cmsg(libc::IPPROTO_IPV6, libc::IPV6_RTHDR, &rh2));
    all.extend(cmsg(libc::IPPROTO_IPV6, libc::IPV6_DSTOPTS, &hao));
    vec![
        ("control_all", all),
        (
            "control_pktinfo",
            cmsg(libc::IPPROTO_IPV6, libc::IPV6_PKTINFO, &pktinfo),
        ),
        ("rthdr", rh2.to_vec()),
        ("dstopts", hao.to_vec()),
    ]
}
