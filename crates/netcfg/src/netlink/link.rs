//! Link operations (`ip link`).

use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use rtnetlink::{LinkMessageBuilder, LinkUnspec};

use super::{collect, Netlink};
use crate::error::{Error, Result};

/// What we care about in an `RTM_NEWLINK`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkInfo {
    pub index: u32,
    pub name: String,
    pub mtu: u32,
    pub txqueuelen: u32,
    /// `IFF_UP` (administratively up).
    pub up: bool,
    /// `IFF_RUNNING` (operationally up).
    pub running: bool,
    pub noarp: bool,
    pub multicast: bool,
    pub broadcast: bool,
    pub pointopoint: bool,
}

impl LinkInfo {
    pub(crate) fn from_message(msg: &LinkMessage) -> LinkInfo {
        let flags = msg.header.flags;
        let mut info = LinkInfo {
            index: msg.header.index,
            name: String::new(),
            mtu: 0,
            txqueuelen: 0,
            up: flags.contains(LinkFlags::Up),
            running: flags.contains(LinkFlags::Running),
            noarp: flags.contains(LinkFlags::Noarp),
            multicast: flags.contains(LinkFlags::Multicast),
            broadcast: flags.contains(LinkFlags::Broadcast),
            pointopoint: flags.contains(LinkFlags::Pointopoint),
        };
        for attr in &msg.attributes {
            match attr {
                LinkAttribute::IfName(n) => info.name.clone_from(n),
                LinkAttribute::Mtu(m) => info.mtu = *m,
                LinkAttribute::TxQueueLen(q) => info.txqueuelen = *q,
                _ => {}
            }
        }
        info
    }
}

impl Netlink {
    /// All links (`ip link show`).
    pub async fn links(&self) -> Result<Vec<LinkInfo>> {
        let msgs = collect("link show", self.handle.link().get().execute()).await?;
        Ok(msgs.iter().map(LinkInfo::from_message).collect())
    }

    /// One link by index.
    pub async fn link(&self, index: u32) -> Result<LinkInfo> {
        let req = self.handle.link().get().match_index(index).execute();
        first_link("link show", req, || index.to_string()).await
    }

    /// One link by name.
    pub async fn link_by_name(&self, name: &str) -> Result<LinkInfo> {
        let req = self.handle.link().get().match_name(name).execute();
        first_link("link show", req, || name.to_string()).await
    }

    /// `if_nametoindex` over netlink.
    pub async fn link_index(&self, name: &str) -> Result<u32> {
        Ok(self.link_by_name(name).await?.index)
    }

    /// `if_indextoname` over netlink.
    pub async fn link_name(&self, index: u32) -> Result<String> {
        Ok(self.link(index).await?.name)
    }

    async fn set_link(&self, op: &'static str, msg: LinkMessage) -> Result<()> {
        self.handle
            .link()
            .set(msg)
            .execute()
            .await
            .map_err(|e| Error::from_rtnl(op, e))
    }

    /// `ip link set dev X up`.
    pub async fn set_link_up(&self, index: u32) -> Result<()> {
        let msg = LinkUnspec::new_with_index(index).up().build();
        self.set_link("link set up", msg).await
    }

    /// `ip link set dev X down`.
    pub async fn set_link_down(&self, index: u32) -> Result<()> {
        let msg = LinkUnspec::new_with_index(index).down().build();
        self.set_link("link set down", msg).await
    }

    /// `ip link set dev X mtu M`.
    pub async fn set_mtu(&self, index: u32, mtu: u32) -> Result<()> {
        let msg = LinkUnspec::new_with_index(index).mtu(mtu).build();
        self.set_link("link set mtu", msg).await
    }

    /// `ip link set dev X txqueuelen N`.
    pub async fn set_txqueuelen(&self, index: u32, len: u32) -> Result<()> {
        let msg = LinkUnspec::new_with_index(index).txqueuelen(len).build();
        self.set_link("link set txqueuelen", msg).await
    }

    /// `ip link set dev X arp off multicast off`: the flags miredo's relay
    /// mode gives its interface (§4.7). `IFF_BROADCAST` is not changeable
    /// from user space and a TUN never has it, so it is left alone.
    pub async fn set_relay_flags(&self, index: u32) -> Result<()> {
        let msg = LinkMessageBuilder::<LinkUnspec>::default()
            .index(index)
            .arp(false)
            .multicast(false)
            .build();
        self.set_link("link set arp off multicast off", msg).await
    }
}

async fn first_link<S>(op: &'static str, stream: S, what: impl Fn() -> String) -> Result<LinkInfo>
where
    S: futures::Stream<Item = std::result::Result<LinkMessage, rtnetlink::Error>>,
{
    match collect(op, stream).await {
        Ok(msgs) => match msgs.first() {
            Some(m) => Ok(LinkInfo::from_message(m)),
            None => Err(Error::NoSuchLink(what())),
        },
        Err(e) if e.errno() == Some(libc::ENODEV) => Err(Error::NoSuchLink(what())),
        Err(e) => Err(e),
    }
}
