//! Network-change events, in a fresh network namespace.

#![allow(clippy::unwrap_used)]

mod common;

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use common::{ip, netns};
use netcfg::{EventGroup, Events, NetEvent, Netlink, RouteSpec};

/// Wait for the first event matching `want`, skipping others.
async fn expect(ev: &mut Events, what: &str, want: impl Fn(&NetEvent) -> bool) -> NetEvent {
    let wait = async {
        loop {
            match ev.next_event().await {
                Some(e) if want(&e) => return e,
                Some(_) => continue,
                None => panic!("event stream ended while waiting for {what}"),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(5), wait)
        .await
        .unwrap_or_else(|_| panic!("no event: {what}"))
}

#[test]
fn ipv4_address_route_and_link_events() {
    netns(|| async {
        let mut ev = Events::ipv4().unwrap();
        let nl = Netlink::new().unwrap();
        ip(&["link", "add", "v0", "type", "veth", "peer", "name", "v1"]);
        let v0 = nl.link_index("v0").await.unwrap();

        nl.set_link_up(v0).await.unwrap();
        ip(&["link", "set", "v1", "up"]);
        expect(&mut ev, "v0 up", |e| {
            *e == NetEvent::LinkChanged {
                index: v0,
                up: true,
            }
        })
        .await;

        let a: Ipv4Addr = "198.18.1.10".parse().unwrap();
        nl.add_address(v0, a.into(), 24, false).await.unwrap();
        expect(&mut ev, "v4 addr added", |e| {
            *e == NetEvent::Ipv4AddrAdded { index: v0, addr: a }
        })
        .await;

        nl.add_route(&RouteSpec::default_v4(v0)).await.unwrap();
        expect(&mut ev, "default route", |e| {
            *e == NetEvent::Ipv4DefaultRouteChanged
        })
        .await;

        nl.del_route(&RouteSpec::default_v4(v0)).await.unwrap();
        expect(&mut ev, "default route gone", |e| {
            *e == NetEvent::Ipv4DefaultRouteChanged
        })
        .await;

        nl.del_address(v0, a.into(), 24).await.unwrap();
        expect(&mut ev, "v4 addr removed", |e| {
            *e == NetEvent::Ipv4AddrRemoved { index: v0, addr: a }
        })
        .await;

        nl.set_link_down(v0).await.unwrap();
        expect(&mut ev, "v0 down", |e| {
            *e == NetEvent::LinkChanged {
                index: v0,
                up: false,
            }
        })
        .await;
    });
}

#[test]
fn ipv6_address_events() {
    netns(|| async {
        let mut ev = Events::subscribe(&[EventGroup::Ipv6Addr]).unwrap();
        let nl = Netlink::new().unwrap();
        let tun = netcfg::Tun::create(Some("teredo")).unwrap();
        nl.set_link_up(tun.index()).await.unwrap();
        let a: Ipv6Addr = "2001:0:c000:201:18af:1a95:3fff:fdf5".parse().unwrap();
        nl.add_address(tun.index(), a.into(), 32, true)
            .await
            .unwrap();
        expect(&mut ev, "v6 added", |e| {
            *e == NetEvent::Ipv6AddrAdded {
                index: tun.index(),
                addr: a,
            }
        })
        .await;
        nl.flush_addresses(tun.index(), netcfg::Family::V6)
            .await
            .unwrap();
        expect(&mut ev, "v6 removed", |e| {
            *e == NetEvent::Ipv6AddrRemoved {
                index: tun.index(),
                addr: a,
            }
        })
        .await;
    });
}
