//! Signals delivered to this process come out as events.

use daemon::signals::{SignalEvent, Signals};

fn raise(signo: i32) {
    nix::sys::signal::kill(
        nix::unistd::Pid::this(),
        nix::sys::signal::Signal::try_from(signo).expect("signal"),
    )
    .expect("kill");
}

#[tokio::test]
async fn signals_map_to_events() {
    let mut signals = Signals::new().expect("handlers");
    let cases = [
        (libc::SIGHUP, SignalEvent::Reload(libc::SIGHUP)),
        (libc::SIGUSR1, SignalEvent::User1),
        (libc::SIGUSR2, SignalEvent::User2),
        (libc::SIGTERM, SignalEvent::Terminate(libc::SIGTERM)),
        (libc::SIGINT, SignalEvent::Terminate(libc::SIGINT)),
        (libc::SIGQUIT, SignalEvent::Terminate(libc::SIGQUIT)),
    ];
    for (signo, expected) in cases {
        raise(signo);
        let got = tokio::time::timeout(std::time::Duration::from_secs(5), signals.recv())
            .await
            .expect("in time");
        assert_eq!(got, Some(expected));
        assert_eq!(expected.signo(), signo);
    }
    assert_eq!(SignalEvent::Terminate(libc::SIGTERM).name(), "Terminated");
}
