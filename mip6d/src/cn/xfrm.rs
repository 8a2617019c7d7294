//! The correspondent node's XFRM objects (RFC 6275 §9.3,
//! §9.5; `docs/compat.md`), all sub-type policies:
//!
//! - at start (not on a home agent, which installs the same two itself): a
//!   wildcard-receive HAO state, so the kernel swaps a Home Address option
//!   into the source of any packet, and an in policy for BUs with an
//!   optional HAO template, so a BU sent from a care-of address reaches
//!   the MH socket;
//! - per binding (our address, home address, care-of address):
//!   - an out policy for Mobility Headers to the home address without a
//!     template, at a higher priority than the next one: a Home Test must
//!     go to the home address (through the home agent), and mip6d adds the
//!     BA's Type 2 routing header itself;
//!   - an RH2 state (us → home address, coa care-of) and an out policy for
//!     everything else to the home address with a route2 template: the
//!     kernel sends it to the care-of address with a Type 2 routing header;
//!   - an in policy from the home address with an optional HAO template, so
//!     what the mobile node sends from its care-of address with a Home
//!     Address option is accepted (optional: what it still sends through
//!     its home agent is accepted too).

use std::net::Ipv6Addr;

use mip6::consts::{mh_type, IPPROTO_MH};
use netcfg::xfrm::{PolicyDir, PolicyType, Selector, Template, XfrmPolicy, XfrmProto, XfrmState};

use crate::kernel::{Item, Kernel, XFRM_PRIO_HOME_SIG_ANY};

type Res<T> = Result<T, netcfg::Error>;

/// Route-optimisation signalling (MH to a mobile node's home address, sent
/// as mip6d built it): after home signalling, before data.
pub const XFRM_PRIO_RO_SIG: u32 = 6;
/// Route-optimised data to and from a mobile node.
pub const XFRM_PRIO_RO_DATA: u32 = 8;

/// The start-up objects (see the module documentation).
pub async fn install_base(kernel: &mut Kernel) -> Res<()> {
    let any = Ipv6Addr::UNSPECIFIED;
    kernel
        .add_state(&XfrmState::ro(XfrmProto::Hao, any, any, any).wildrecv())
        .await?;
    let bu_in = XfrmPolicy::new(
        Selector::any().mh_type(mh_type::BU),
        PolicyDir::In,
        PolicyType::Sub,
        XFRM_PRIO_HOME_SIG_ANY,
    )
    .tmpl(Template::ro(XfrmProto::Hao, any, any).optional());
    kernel.add_policy(&bu_in).await
}

/// One binding's objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindingObjects {
    items: Vec<Item>,
}

fn rh2_state(cn: Ipv6Addr, hoa: Ipv6Addr, coa: Ipv6Addr) -> XfrmState {
    XfrmState::ro(XfrmProto::Route2, cn, hoa, coa)
}

impl BindingObjects {
    /// Installs them (the state first, so no packet meets the policy
    /// without it); on failure, removes what was installed.
    pub async fn install(
        kernel: &mut Kernel,
        cn: Ipv6Addr,
        hoa: Ipv6Addr,
        coa: Ipv6Addr,
    ) -> Res<BindingObjects> {
        let any = Ipv6Addr::UNSPECIFIED;
        let state = rh2_state(cn, hoa, coa);
        let mh_out = XfrmPolicy::new(
            Selector::hosts(cn, hoa).proto(IPPROTO_MH),
            PolicyDir::Out,
            PolicyType::Sub,
            XFRM_PRIO_RO_SIG,
        );
        let data_out = XfrmPolicy::new(
            Selector::hosts(cn, hoa),
            PolicyDir::Out,
            PolicyType::Sub,
            XFRM_PRIO_RO_DATA,
        )
        .tmpl(Template::ro(XfrmProto::Route2, any, any));
        let data_in = XfrmPolicy::new(
            Selector::hosts(hoa, cn),
            PolicyDir::In,
            PolicyType::Sub,
            XFRM_PRIO_RO_DATA,
        )
        .tmpl(Template::ro(XfrmProto::Hao, any, any).optional());
        let mut objects = BindingObjects { items: Vec::new() };
        let steps: [(&XfrmPolicy, Option<&XfrmState>); 3] =
            [(&mh_out, None), (&data_out, Some(&state)), (&data_in, None)];
        for (policy, state) in steps {
            let r = async {
                if let Some(s) = state {
                    kernel.add_state(s).await?;
                    objects.items.push(Item::State(s.id()));
                }
                kernel.add_policy(policy).await?;
                objects
                    .items
                    .push(Item::Policy(policy.sel, policy.dir, policy.ptype));
                Ok::<(), netcfg::Error>(())
            }
            .await;
            if let Err(e) = r {
                objects.remove(kernel).await;
                return Err(e);
            }
        }
        Ok(objects)
    }

    /// A new care-of address: the RH2 state is updated in place.
    pub async fn move_to(
        kernel: &mut Kernel,
        cn: Ipv6Addr,
        hoa: Ipv6Addr,
        coa: Ipv6Addr,
    ) -> Res<()> {
        kernel.add_state(&rh2_state(cn, hoa, coa)).await
    }

    /// Removes them, policies before the state (newest first).
    pub async fn remove(&mut self, kernel: &mut Kernel) {
        while let Some(item) = self.items.pop() {
            if let Err(e) = kernel.remove(item.clone()).await {
                tracing::warn!("cannot remove {item:?}: {e}");
            }
        }
    }
}
