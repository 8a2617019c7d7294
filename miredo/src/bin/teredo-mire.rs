//! `teredo-mire`: stateless Teredo test responder, a drop-in for miredo 1.2.6's.

fn main() -> std::process::ExitCode {
    miredo::mire::main_mire()
}
