//! What the home agent's decision tests share: a parsed configuration and the
//! state a Binding Update decision works on, with no socket and no kernel.

use std::net::Ipv6Addr;

use mip6::bcache::BindingCache;

use crate::config::{parse, Config, Offline};
use crate::ha::admission::{LogLimit, NewBindingLimit};
use crate::ha::home_bu::HomeRegistrar;

pub(super) fn addr(s: &str) -> Ipv6Addr {
    s.parse().expect("test address")
}

/// A home agent's configuration on interface `eth0`, with `extra` lines.
pub(super) fn ha_config(extra: &str) -> Config {
    let host = Offline {
        interfaces: vec!["eth0".to_owned()],
    };
    let text = format!("NodeConfig HA;\n{extra}\nInterface \"eth0\";\n");
    match parse(text.as_bytes(), "test.conf", &host) {
        Ok(l) => l.config,
        Err(e) => panic!("{e}\n{text}"),
    }
}

/// The home agent's state a BU works on.
pub(super) struct BuState {
    pub(super) config: Config,
    pub(super) cache: BindingCache,
    pub(super) new_bindings: NewBindingLimit,
    pub(super) log_limit: LogLimit,
    pub(super) counters: bus::BuCounters,
}

impl BuState {
    pub(super) fn new(config: Config) -> BuState {
        BuState {
            config,
            cache: BindingCache::with_max_bindings(16),
            new_bindings: NewBindingLimit::new(16),
            log_limit: LogLimit::default(),
            counters: bus::BuCounters::default(),
        }
    }

    pub(super) fn registrar(&mut self) -> HomeRegistrar<'_> {
        HomeRegistrar {
            config: &self.config,
            cache: &mut self.cache,
            new_bindings: &mut self.new_bindings,
            log_limit: &mut self.log_limit,
            counters: &mut self.counters,
        }
    }
}
