fn main() {
    eprintln!("mip6d: not implemented yet");
    std::process::exit(1);
}
