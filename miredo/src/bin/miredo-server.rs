//! `miredo-server`: Teredo server (RFC 4380 §5.3), a drop-in for miredo-server 1.2.6.

fn main() -> std::process::ExitCode {
    miredo::server::main_server()
}
