//! `passerelle`: the one binary of the platform. See `passerelle --help`.

fn main() -> std::process::ExitCode {
    passerelle::main()
}
