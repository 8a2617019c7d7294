//! Sends Mobility Header messages built by this crate's codec, for the VM
//! tests' guest scripts (scripts/vm/*.sh), which run it from the host's target
//! directory (`cargo build -p mip6 --example mh_send`):
//!
//!   mh_send bu IFNAME HOA HA COA SEQ LIFETIME_UNITS
//!       one home Binding Update (RFC 6275 §6.1.7, flags A|H, Alternate
//!       Care-of Address option §6.2.5) from HOA to HA, out of IFNAME
//!   mh_send bulk IFNAME HA COUNT SEQ LIFETIME_UNITS [RATE]
//!       the same for COUNT simulated mobile nodes: node i has home address
//!       2001:db8:1::1:<i> and care-of address 2001:db8:a::1:<i>; RATE caps
//!       the BUs per second (0 or absent: as fast as possible); prints
//!       "COUNT SECONDS"
//!   mh_send flood SRC CN COUNT
//!       COUNT Home Test Inits (§6.1.3) and COUNT messages of the unknown MH
//!       type 200 from SRC (an address of this namespace) to CN, then reads
//!       answers for 2 s; prints "sent COUNT HoTI and COUNT MH type 200; got
//!       H HoT, B BE"
//!   mh_send be2 SRC DST HOA
//!       a Binding Error with status 2 (unrecognized MH type, §6.1.9) for
//!       home address HOA from SRC to DST
//!   mh_send paramprob SRC DST mh|hao QSRC QDST [QHAO]
//!       an ICMPv6 Parameter Problem (RFC 4443 §3.4) from SRC to DST quoting
//!       a BU QSRC -> QDST (with a Home Address option for QHAO if given):
//!       `mh` is code 1 with the pointer at the Next Header field holding 135,
//!       `hao` code 2 with the pointer at the Home Address option
//!
//! `bu` and `bulk` write whole IPv6 packets (IPPROTO_RAW), so the home
//! address need not be assigned; the home agent answers through a Type 2
//! routing header to the care-of address.

use std::io::Read;
use std::net::{Ipv6Addr, SocketAddrV6};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use mip6::consts::BeStatus;
use mip6::wire::param_problem::TYPE_PARAMETER_PROBLEM;
use mip6::wire::{
    mh_checksum, BindingError, BindingUpdate, BuFlags, MhMessage, MhRepr, MobilityOption, TestInit,
    OPT_HOME_ADDRESS,
};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

const IPPROTO_RAW: i32 = 255;
const IPPROTO_MH: u8 = 135;
const IPPROTO_NONE: u8 = 59;
const IPPROTO_DSTOPTS: u8 = 60;
const IPPROTO_ICMPV6: u8 = 58;
/// An MH type no RFC assigns: the receiver answers it with a Binding Error
/// (RFC 6275 §9.2).
const MH_TYPE_UNKNOWN: u8 = 200;
const HOME_BASE: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 1, 0);
const CARE_BASE: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xa, 0, 0, 0, 1, 0);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mh_send: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<()> {
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    match a.as_slice() {
        ["bu", ifname, hoa, ha, coa, seq, units] => {
            let sock = raw_socket(ifname)?;
            let ha = addr(ha)?;
            let packet = home_bu(addr(hoa)?, ha, addr(coa)?, num(seq)?, num(units)?)?;
            send(&sock, &packet, ha)?;
            println!("BU {hoa} -> {ha} coa {coa} seq {seq} units {units} sent on {ifname}");
        }
        ["bulk", ifname, ha, count, seq, units, rest @ ..] => {
            let rate: f64 = match rest {
                [] => 0.0,
                [r] => r.parse().with_context(|| format!("bad rate {r:?}"))?,
                _ => bail!("bulk takes at most one RATE"),
            };
            bulk(ifname, addr(ha)?, num(count)?, num(seq)?, num(units)?, rate)?;
        }
        ["flood", src, cn, count] => flood(addr(src)?, addr(cn)?, num(count)?)?,
        ["be2", src, dst, hoa] => {
            let (src, dst) = (addr(src)?, addr(dst)?);
            let be = MhRepr::new(MhMessage::BindingError(BindingError {
                status: BeStatus::UNRECOGNIZED_MH_TYPE,
                home_address: addr(hoa)?,
            }))
            .emit(&src, &dst)
            .context("cannot emit the BE")?;
            let sock = bound_socket(IPPROTO_MH, src)?;
            send(&sock, &be, dst)?;
            println!("BE status 2 {src} -> {dst} sent");
        }
        ["paramprob", src, dst, culprit, qsrc, qdst, rest @ ..] => {
            let hao = match rest {
                [] => None,
                [h] => Some(addr(h)?),
                _ => bail!("paramprob takes at most one QHAO"),
            };
            let (src, dst) = (addr(src)?, addr(dst)?);
            let msg = param_problem(culprit, addr(qsrc)?, addr(qdst)?, hao)?;
            let sock = bound_socket(IPPROTO_ICMPV6, src)?;
            send(&sock, &msg, dst)?;
            println!("Parameter Problem ({culprit}) {src} -> {dst} sent");
        }
        _ => bail!(
            "usage: mh_send bu IFNAME HOA HA COA SEQ UNITS | \
             bulk IFNAME HA COUNT SEQ UNITS [RATE] | flood SRC CN COUNT | \
             be2 SRC DST HOA | paramprob SRC DST mh|hao QSRC QDST [QHAO]"
        ),
    }
    Ok(())
}

fn addr(s: &str) -> Result<Ipv6Addr> {
    s.parse()
        .with_context(|| format!("not an IPv6 address: {s:?}"))
}

fn num<T: std::str::FromStr>(s: &str) -> Result<T> {
    s.parse()
        .ok()
        .with_context(|| format!("not a number: {s:?}"))
}

/// The `i`th address after `base`.
fn nth(base: Ipv6Addr, i: u32) -> Ipv6Addr {
    Ipv6Addr::from(u128::from(base) + u128::from(i))
}

/// A home registration (A|H) as a whole IPv6 packet: fixed header (RFC 8200
/// §3), then the Mobility Header with its checksum.
fn home_bu(hoa: Ipv6Addr, ha: Ipv6Addr, coa: Ipv6Addr, seq: u16, units: u16) -> Result<Vec<u8>> {
    let mh = MhRepr {
        message: MhMessage::BindingUpdate(BindingUpdate {
            sequence: seq,
            flags: BuFlags(BuFlags::ACK | BuFlags::HOME),
            lifetime_units: units,
        }),
        options: vec![MobilityOption::AlternateCoa(coa)],
    }
    .emit(&hoa, &ha)
    .context("cannot emit the BU")?;
    let payload_len = u16::try_from(mh.len()).context("BU too long")?;
    let mut packet = Vec::with_capacity(40 + mh.len());
    packet.extend_from_slice(&0x6000_0000u32.to_be_bytes());
    packet.extend_from_slice(&payload_len.to_be_bytes());
    packet.extend_from_slice(&[IPPROTO_MH, 64]);
    packet.extend_from_slice(&hoa.octets());
    packet.extend_from_slice(&ha.octets());
    packet.extend_from_slice(&mh);
    Ok(packet)
}

/// A socket that writes whole IPv6 packets out of IFNAME.
fn raw_socket(ifname: &str) -> Result<Socket> {
    let sock = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::from(IPPROTO_RAW)))
        .context("cannot open a raw IPv6 socket (root?)")?;
    sock.bind_device(Some(ifname.as_bytes()))
        .with_context(|| format!("cannot bind to {ifname}"))?;
    Ok(sock)
}

fn send(sock: &Socket, packet: &[u8], dst: Ipv6Addr) -> Result<()> {
    let to = SockAddr::from(SocketAddrV6::new(dst, 0, 0, 0));
    sock.send_to(packet, &to)
        .with_context(|| format!("cannot send to {dst}"))?;
    Ok(())
}

fn bulk(ifname: &str, ha: Ipv6Addr, count: u32, seq: u16, units: u16, rate: f64) -> Result<()> {
    let sock = raw_socket(ifname)?;
    let packets = (0..count)
        .map(|i| home_bu(nth(HOME_BASE, i), ha, nth(CARE_BASE, i), seq, units))
        .collect::<Result<Vec<_>>>()?;
    let start = Instant::now();
    for (i, p) in packets.iter().enumerate() {
        if rate > 0.0 {
            // Lossless: a benchmark's counts stay far below 2^52.
            #[allow(clippy::cast_precision_loss)]
            let due = start + Duration::from_secs_f64(i as f64 / rate);
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
        }
        send(&sock, p, ha)?;
    }
    println!("{count} {:.3}", start.elapsed().as_secs_f64());
    Ok(())
}

/// A Mobility Header of unknown type MH_TYPE_UNKNOWN with 10 octets of zero
/// message data (16 octets in all, a multiple of 8 as §6.1.1 requires).
fn unknown_mh(src: Ipv6Addr, dst: Ipv6Addr) -> Vec<u8> {
    let mut mh = vec![IPPROTO_NONE, 1, MH_TYPE_UNKNOWN, 0, 0, 0];
    mh.extend_from_slice(&[0; 10]);
    let sum = mh_checksum(&src, &dst, &mh);
    mh[4..6].copy_from_slice(&sum.to_be_bytes());
    mh
}

fn flood(src: Ipv6Addr, cn: Ipv6Addr, count: u32) -> Result<()> {
    let sock = Socket::new(
        Domain::IPV6,
        Type::RAW,
        Some(Protocol::from(i32::from(IPPROTO_MH))),
    )
    .context("cannot open a raw MH socket (root?)")?;
    sock.bind(&SockAddr::from(SocketAddrV6::new(src, 0, 0, 0)))
        .with_context(|| format!("cannot bind to {src}"))?;
    let to = SockAddr::from(SocketAddrV6::new(cn, 0, 0, 0));
    let unknown = unknown_mh(src, cn);
    for i in 0..count {
        let hoti = MhRepr::new(MhMessage::HomeTestInit(TestInit {
            cookie: u64::from(i).to_be_bytes(),
        }))
        .emit(&src, &cn)
        .context("cannot emit the HoTI")?;
        sock.send_to(&hoti, &to).context("cannot send a HoTI")?;
        sock.send_to(&unknown, &to)
            .context("cannot send an unknown MH")?;
    }
    // The kernel hands a raw MH socket the Mobility Header without the IPv6
    // header: its third octet is the MH type.
    let (mut hot, mut be) = (0u32, 0u32);
    sock.set_read_timeout(Some(Duration::from_millis(200)))?;
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut buf = [0u8; 2048];
    while Instant::now() < deadline {
        match (&sock).read(&mut buf) {
            Ok(n) if n >= 3 && buf[2] == 3 => hot += 1,
            Ok(n) if n >= 3 && buf[2] == 7 => be += 1,
            _ => {}
        }
    }
    println!("sent {count} HoTI and {count} MH type 200; got {hot} HoT, {be} BE");
    Ok(())
}

/// A raw socket of protocol `proto` bound to `src` (an address of this
/// namespace); the kernel fills the ICMPv6 checksum.
fn bound_socket(proto: u8, src: Ipv6Addr) -> Result<Socket> {
    let sock = Socket::new(
        Domain::IPV6,
        Type::RAW,
        Some(Protocol::from(i32::from(proto))),
    )
    .context("cannot open a raw socket (root?)")?;
    sock.bind(&SockAddr::from(SocketAddrV6::new(src, 0, 0, 0)))
        .with_context(|| format!("cannot bind to {src}"))?;
    Ok(sock)
}

/// A Parameter Problem quoting a BU `qsrc` -> `qdst`, behind a Destination
/// Options header with a Home Address option (RFC 6275 §6.3) when `hao` is
/// given: code 1 pointing at the Next Header field that says 135
/// (`culprit` "mh"), or code 2 pointing at the option's type ("hao").
fn param_problem(
    culprit: &str,
    qsrc: Ipv6Addr,
    qdst: Ipv6Addr,
    hao: Option<Ipv6Addr>,
) -> Result<Vec<u8>> {
    let mh = home_bu(qsrc, qdst, qsrc, 1, 1)?;
    let mh = mh.get(40..).context("BU too short")?;
    let mut quoted = Vec::new();
    quoted.extend_from_slice(&0x6000_0000u32.to_be_bytes());
    let ext = if hao.is_some() { 24 } else { 0 };
    let payload_len = u16::try_from(ext + mh.len()).context("too long")?;
    quoted.extend_from_slice(&payload_len.to_be_bytes());
    quoted.push(if hao.is_some() {
        IPPROTO_DSTOPTS
    } else {
        IPPROTO_MH
    });
    quoted.push(64);
    quoted.extend_from_slice(&qsrc.octets());
    quoted.extend_from_slice(&qdst.octets());
    if let Some(h) = hao {
        // Next header, length 2 (24 octets), PadN of 2, then the option.
        quoted.extend_from_slice(&[IPPROTO_MH, 2, 1, 2, 0, 0, OPT_HOME_ADDRESS, 16]);
        quoted.extend_from_slice(&h.octets());
    }
    quoted.extend_from_slice(mh);
    let (code, pointer): (u8, u32) = match (culprit, hao.is_some()) {
        ("mh", true) => (1, 40),
        ("mh", false) => (1, 6),
        ("hao", true) => (2, 46),
        ("hao", false) => bail!("hao needs QHAO"),
        _ => bail!("culprit {culprit:?} is neither mh nor hao"),
    };
    let mut msg = vec![TYPE_PARAMETER_PROBLEM, code, 0, 0];
    msg.extend_from_slice(&pointer.to_be_bytes());
    msg.extend_from_slice(&quoted);
    Ok(msg)
}
