use clap::Parser;

fn main() {
    let cli = kiln::cli::Cli::parse();
    match kiln::cli::run(cli) {
        Ok(code) => std::process::exit(code),
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::exit(1);
        }
    }
}
