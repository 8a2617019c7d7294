//! The mobile node's XFRM objects for route optimisation ([`super::ro`],
//! installed by [`super::ro_io`]):
//! the trigger (an optional HAO template from the home address to anywhere)
//! with the HoTI bypass, and per correspondent the HAO out and RH2 in states
//! with their policies, all sub-type policies.

use std::net::Ipv6Addr;

use mip6::consts::mh_type;
use netcfg::xfrm::{PolicyDir, PolicyType, Selector, Template, XfrmPolicy, XfrmProto, XfrmState};
use tracing::warn;

use crate::kernel::{Item, Kernel};

/// The HoTI bypass: before the correspondents' data policies.
const XFRM_PRIO_RO_SIG: u32 = 6;
/// A correspondent's HAO out / RH2 in policies.
const XFRM_PRIO_RO_DATA: u32 = 8;
/// The trigger: after everything else.
const XFRM_PRIO_RO_TRIGGER: u32 = 20;

type Res<T> = Result<T, netcfg::Error>;

async fn add_policy(kernel: &mut Kernel, items: &mut Vec<Item>, p: &XfrmPolicy) -> Res<()> {
    kernel.add_policy(p).await?;
    items.push(Item::Policy(p.sel, p.dir, p.ptype));
    Ok(())
}

async fn add_state(kernel: &mut Kernel, items: &mut Vec<Item>, s: &XfrmState) -> Res<()> {
    kernel.add_state(s).await?;
    let id = Item::State(s.id());
    if !items.contains(&id) {
        items.push(id);
    }
    Ok(())
}

pub(super) async fn remove_all(kernel: &mut Kernel, items: &mut Vec<Item>) {
    while let Some(item) = items.pop() {
        if let Err(e) = kernel.remove(item.clone()).await {
            warn!("cannot remove {item:?}: {e}");
        }
    }
}

/// The trigger and the HoTI bypass for `hoa`.
pub(super) async fn install_trigger(
    kernel: &mut Kernel,
    items: &mut Vec<Item>,
    hoa: Ipv6Addr,
) -> Res<()> {
    let any = Ipv6Addr::UNSPECIFIED;
    let hoti = XfrmPolicy::new(
        Selector::hosts(hoa, any).mh_type(mh_type::HOTI),
        PolicyDir::Out,
        PolicyType::Sub,
        XFRM_PRIO_RO_SIG,
    );
    add_policy(kernel, items, &hoti).await?;
    let trigger = XfrmPolicy::new(
        Selector::hosts(hoa, any),
        PolicyDir::Out,
        PolicyType::Sub,
        XFRM_PRIO_RO_TRIGGER,
    )
    .tmpl(Template::ro(XfrmProto::Hao, any, any).optional());
    add_policy(kernel, items, &trigger).await
}

/// A correspondent's states and policies for `coa` (states updated in
/// place when they exist).
pub(super) async fn install_peer(
    kernel: &mut Kernel,
    items: &mut Vec<Item>,
    hoa: Ipv6Addr,
    cn: Ipv6Addr,
    coa: Ipv6Addr,
) -> Res<()> {
    let any = Ipv6Addr::UNSPECIFIED;
    add_state(kernel, items, &XfrmState::ro(XfrmProto::Hao, hoa, cn, coa)).await?;
    add_state(
        kernel,
        items,
        &XfrmState::ro(XfrmProto::Route2, cn, hoa, coa),
    )
    .await?;
    let out = XfrmPolicy::new(
        Selector::hosts(hoa, cn),
        PolicyDir::Out,
        PolicyType::Sub,
        XFRM_PRIO_RO_DATA,
    )
    .tmpl(Template::ro(XfrmProto::Hao, any, any));
    let inp = XfrmPolicy::new(
        Selector::hosts(cn, hoa),
        PolicyDir::In,
        PolicyType::Sub,
        XFRM_PRIO_RO_DATA,
    )
    .tmpl(Template::ro(XfrmProto::Route2, any, any).optional());
    for p in [out, inp] {
        if !items.contains(&Item::Policy(p.sel, p.dir, p.ptype)) {
            add_policy(kernel, items, &p).await?;
        }
    }
    Ok(())
}
