//! UPnP IGD port mapping (UPnP Forum "WANIPConnection:1" service), the last
//! resort when neither PCP nor NAT-PMP answers.
//!
//! SSDP discovery, HTTP and SOAP come from `igd-next`; every one of its types
//! stays in this module, so that replacing it touches nothing else. Each
//! network step is bounded by the timeout given at discovery: `igd-next`
//! bounds its search but not its SOAP requests.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use igd_next::aio::tokio::Tokio;
use igd_next::{AddAnyPortError, AddPortError, PortMappingProtocol, SearchOptions};
use thiserror::Error;

/// Where SSDP searches go (UPnP Device Architecture 1.1 §1.3, search).
pub const SSDP_MULTICAST: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(239, 255, 255, 250), 1900);

/// What went wrong talking to the IGD.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum UpnpError {
    /// No IGD answered the search in time.
    #[error("no UPnP gateway found")]
    NotFound,
    /// The IGD did not finish a request in time.
    #[error("UPnP gateway timed out")]
    Timeout,
    /// The IGD refused (UPnP error 606 and the like).
    #[error("UPnP gateway refused: {0}")]
    Refused(String),
    /// Neither the same port nor any other could be mapped.
    #[error("no external port available")]
    NoPort,
    /// The IGD's external address is not IPv4, useless for Teredo.
    #[error("external address {0} is not IPv4")]
    NotIpv4(IpAddr),
    /// Transport or protocol failure (HTTP, XML, sockets).
    #[error("UPnP: {0}")]
    Protocol(String),
}

/// A mapping held on the IGD.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpnpMapping {
    /// Our socket's address.
    pub internal: SocketAddrV4,
    /// Where peers reach it.
    pub external: SocketAddrV4,
    /// Granted lease; `None` when the IGD accepts only permanent mappings
    /// (UPnP error 725), which then need no renewal but must be removed.
    pub lease: Option<Duration>,
}

impl UpnpMapping {
    /// When to renew: half the lease, as for PCP (RFC 6887 §11.2.1).
    pub fn renew_after(&self) -> Option<Duration> {
        self.lease.map(|l| l / 2)
    }
}

/// An IGD found on the link.
#[derive(Debug, Clone)]
pub struct UpnpGateway {
    inner: igd_next::aio::Gateway<Tokio>,
    timeout: Duration,
}

impl UpnpGateway {
    /// Searches for an IGD from `local` (binding there keeps the search on
    /// the right interface, and inside the right network namespace), giving
    /// up after `timeout`, which also bounds every later request.
    pub async fn discover(local: Ipv4Addr, timeout: Duration) -> Result<Self, UpnpError> {
        Self::discover_with(local, SocketAddr::V4(SSDP_MULTICAST), timeout).await
    }

    /// [`UpnpGateway::discover`] with another SSDP target, for a test IGD on
    /// loopback or a unicast search.
    pub async fn discover_with(
        local: Ipv4Addr,
        ssdp: SocketAddr,
        timeout: Duration,
    ) -> Result<Self, UpnpError> {
        let options = SearchOptions {
            bind_addr: SocketAddr::new(IpAddr::V4(local), 0),
            broadcast_address: ssdp,
            timeout: Some(timeout),
            single_search_timeout: Some(timeout),
        };
        // igd-next applies `timeout` itself; ours is the backstop should a
        // later version stop doing so.
        let found = bounded(timeout, igd_next::aio::tokio::search_gateway(options)).await;
        match found {
            Ok(Ok(inner)) => Ok(UpnpGateway { inner, timeout }),
            Ok(Err(igd_next::SearchError::NoResponseWithinTimeout)) | Err(UpnpError::Timeout) => {
                Err(UpnpError::NotFound)
            }
            Ok(Err(e)) => Err(UpnpError::Protocol(e.to_string())),
            Err(e) => Err(e),
        }
    }

    /// The IGD's control endpoint (for logs).
    pub fn control_addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// The IGD's external IPv4 address.
    pub async fn external_ip(&self) -> Result<Ipv4Addr, UpnpError> {
        match bounded(self.timeout, self.inner.get_external_ip()).await? {
            Ok(IpAddr::V4(ip)) => Ok(ip),
            Ok(ip) => Err(UpnpError::NotIpv4(ip)),
            Err(igd_next::GetExternalIpError::ActionNotAuthorized) => {
                Err(UpnpError::Refused("GetExternalIPAddress".into()))
            }
            Err(e) => Err(UpnpError::Protocol(e.to_string())),
        }
    }

    /// Maps UDP `internal`: the same external port first (a port peers may
    /// already know, and the one restricted IGDs insist on), any port after.
    pub async fn map_udp(
        &self,
        internal: SocketAddrV4,
        lease: Duration,
        description: &str,
    ) -> Result<UpnpMapping, UpnpError> {
        self.map_udp_at(internal, internal.port(), lease, description)
            .await
    }

    /// [`UpnpGateway::map_udp`], asking for external port `external_port`
    /// first.
    pub async fn map_udp_at(
        &self,
        internal: SocketAddrV4,
        external_port: u16,
        lease: Duration,
        description: &str,
    ) -> Result<UpnpMapping, UpnpError> {
        let ip = self.external_ip().await?;
        match self
            .add_port(external_port, internal, lease, description)
            .await
        {
            Ok(lease) => {
                return Ok(UpnpMapping {
                    internal,
                    external: SocketAddrV4::new(ip, external_port),
                    lease,
                })
            }
            Err(UpnpError::NoPort) => {}
            Err(e) => return Err(e),
        }
        let (port, lease) = self.add_any_port(internal, lease, description).await?;
        Ok(UpnpMapping {
            internal,
            external: SocketAddrV4::new(ip, port),
            lease,
        })
    }

    /// Renews `mapping` for another `lease`: AddPortMapping of an existing
    /// entry by its owner refreshes it (WANIPConnection:1, AddPortMapping). The
    /// external address is read again, as it may have changed.
    pub async fn renew(
        &self,
        mapping: &UpnpMapping,
        lease: Duration,
        description: &str,
    ) -> Result<UpnpMapping, UpnpError> {
        let ip = self.external_ip().await?;
        let port = mapping.external.port();
        let lease = self
            .add_port(port, mapping.internal, lease, description)
            .await?;
        Ok(UpnpMapping {
            internal: mapping.internal,
            external: SocketAddrV4::new(ip, port),
            lease,
        })
    }

    /// Removes `mapping`; one already gone counts as removed.
    pub async fn unmap(&self, mapping: &UpnpMapping) -> Result<(), UpnpError> {
        let port = mapping.external.port();
        match bounded(
            self.timeout,
            self.inner.remove_port(PortMappingProtocol::UDP, port),
        )
        .await?
        {
            Ok(()) | Err(igd_next::RemovePortError::NoSuchPortMapping) => Ok(()),
            Err(igd_next::RemovePortError::ActionNotAuthorized) => {
                Err(UpnpError::Refused("DeletePortMapping".into()))
            }
            Err(e) => Err(UpnpError::Protocol(e.to_string())),
        }
    }

    /// AddPortMapping with `lease`, once more with a permanent lease if the
    /// IGD takes no other (error 725). Returns the lease granted.
    async fn add_port(
        &self,
        external_port: u16,
        internal: SocketAddrV4,
        lease: Duration,
        description: &str,
    ) -> Result<Option<Duration>, UpnpError> {
        let mut secs = lease_secs(lease);
        loop {
            let res = bounded(
                self.timeout,
                self.inner.add_port(
                    PortMappingProtocol::UDP,
                    external_port,
                    SocketAddr::V4(internal),
                    secs,
                    description,
                ),
            )
            .await?;
            match res {
                Ok(()) => return Ok(granted(secs)),
                Err(AddPortError::OnlyPermanentLeasesSupported) if secs != 0 => secs = 0,
                Err(AddPortError::PortInUse | AddPortError::SamePortValuesRequired) => {
                    return Err(UpnpError::NoPort)
                }
                Err(AddPortError::ActionNotAuthorized) => {
                    return Err(UpnpError::Refused("AddPortMapping".into()))
                }
                Err(e) => return Err(UpnpError::Protocol(e.to_string())),
            }
        }
    }

    async fn add_any_port(
        &self,
        internal: SocketAddrV4,
        lease: Duration,
        description: &str,
    ) -> Result<(u16, Option<Duration>), UpnpError> {
        let mut secs = lease_secs(lease);
        loop {
            let res = bounded(
                self.timeout,
                self.inner.add_any_port(
                    PortMappingProtocol::UDP,
                    SocketAddr::V4(internal),
                    secs,
                    description,
                ),
            )
            .await?;
            match res {
                Ok(port) => return Ok((port, granted(secs))),
                Err(AddAnyPortError::OnlyPermanentLeasesSupported) if secs != 0 => secs = 0,
                Err(AddAnyPortError::NoPortsAvailable | AddAnyPortError::ExternalPortInUse) => {
                    return Err(UpnpError::NoPort)
                }
                Err(AddAnyPortError::ActionNotAuthorized) => {
                    return Err(UpnpError::Refused("AddAnyPortMapping".into()))
                }
                Err(e) => return Err(UpnpError::Protocol(e.to_string())),
            }
        }
    }
}

/// A UPnP lease in seconds; 0 means permanent to the IGD, so a zero
/// request becomes one second rather than a mapping that never expires.
fn lease_secs(lease: Duration) -> u32 {
    u32::try_from(lease.as_secs()).unwrap_or(u32::MAX).max(1)
}

fn granted(secs: u32) -> Option<Duration> {
    (secs != 0).then(|| Duration::from_secs(u64::from(secs)))
}

async fn bounded<T>(limit: Duration, f: impl Future<Output = T>) -> Result<T, UpnpError> {
    tokio::time::timeout(limit, f)
        .await
        .map_err(|_| UpnpError::Timeout)
}
