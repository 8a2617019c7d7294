//! The correspondent node's event loop: as the correspondent-node role's
//! driver ([`run`]), or beside a home agent or mobile node ([`Companion`]).

use netcfg::xfrm::{XfrmEvent, XfrmEvents};
use tokio::sync::{mpsc, oneshot};
use tracing::{error, warn};

use super::{max_bindings, Correspondent};
use crate::config::Config;
use crate::control::{Control, Reloader};
use crate::publish::Publisher;

impl Correspondent {
    /// Runs until `stop` says so; `reload` re-reads the configuration.
    async fn run_loop(
        &mut self,
        mut control: mpsc::Receiver<Control>,
        reload: impl Fn(&Config, Option<Control>) -> Option<Option<Config>>,
    ) {
        loop {
            let deadline = self.next_deadline();
            // Biased: a BU waiting on the MH socket is taken before an XFRM
            // REPORT, so a data packet that overtook the BU does not draw a
            // Binding Error for the binding that BU creates.
            tokio::select! {
                biased;
                c = control.recv() => match reload(&self.config, c) {
                    None => break,
                    Some(Some(new)) => {
                        self.cache.set_limit(max_bindings(&new));
                        self.config = new;
                    }
                    Some(None) => {}
                },
                r = self.io.mh.recv_message() => match r {
                    Ok(msg) => self.on_mh(msg).await,
                    Err(e) => warn!("CN: MH socket: {e}"),
                },
                Some(ev) = next_report(&mut self.io.reports) => self.on_report(ev).await,
                () = crate::control::sleep_until(deadline) => self.on_timer().await,
            }
        }
        self.shutdown().await;
    }
}

/// The next XFRM REPORT (never, without the subscription).
async fn next_report(reports: &mut Option<XfrmEvents>) -> Option<XfrmEvent> {
    match reports.as_mut() {
        Some(r) => r.next_event().await,
        None => std::future::pending().await,
    }
}

/// The correspondent-node role's driver.
pub async fn run(
    config: Config,
    reloader: Reloader,
    control: mpsc::Receiver<Control>,
    publisher: Publisher,
    ready: oneshot::Sender<()>,
) -> i32 {
    let mut cn = match Correspondent::start(config, publisher).await {
        Ok(cn) => {
            let _ = ready.send(());
            cn
        }
        Err(e) => {
            error!("{e}");
            return 1;
        }
    };
    cn.run_loop(control, |running, c| {
        let mut config = running.clone();
        reloader.handle(c, &mut config).then_some(Some(config))
    })
    .await;
    0
}

/// The correspondent node beside a home agent or mobile node.
#[derive(Debug)]
pub struct Companion {
    task: tokio::task::JoinHandle<()>,
}

impl Companion {
    /// Starts it; `None` (logged) if it cannot run: the role goes on
    /// without route optimisation as a correspondent.
    pub async fn start(
        config: Config,
        reloader: Reloader,
        publisher: Publisher,
        control: mpsc::Receiver<Control>,
    ) -> Option<Companion> {
        let mut cn = match Correspondent::start(config, publisher).await {
            Ok(cn) => cn,
            Err(e) => {
                warn!("{e}; running without correspondent node support");
                return None;
            }
        };
        let task = tokio::spawn(async move {
            cn.run_loop(control, |running, c| match c {
                Some(Control::Reload) => Some(Some(reloader.reload_quietly(running))),
                Some(Control::Terminate(_)) | None => None,
            })
            .await;
        });
        Some(Companion { task })
    }

    /// Waits for it to end (after a [`Control::Terminate`] on its channel)
    /// and its kernel objects to be removed.
    pub async fn join(self) {
        if let Err(e) = self.task.await {
            warn!("correspondent node task: {e}");
        }
    }
}
