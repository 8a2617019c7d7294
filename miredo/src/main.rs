//! `miredo`: Teredo IPv6 tunneling daemon (client mode).

fn main() -> std::process::ExitCode {
    miredo::service::main_miredo()
}
