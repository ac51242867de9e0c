//! `switchboard-loadtest`: see the library's docs and docs/loadtest.md.

use clap::Parser;

fn main() {
    let args = loadtest::cli::Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("switchboard-loadtest: tokio runtime: {e}");
            std::process::exit(loadtest::thresholds::EXIT_ERROR);
        }
    };
    let code = runtime.block_on(loadtest::cli::main_with(args));
    std::process::exit(code);
}
