//! `t2l`: the Text-to-LoRA command line. Argument parsing and printing only; every step is a call
//! into the workspace's libraries, so a Rust program can do all that the CLI does.

mod cli;
mod commands;
mod device;
mod error;

use clap::Parser;

fn main() {
    let cli = cli::Cli::parse();
    let result = match &cli.command {
        cli::Command::Inspect(args) => commands::inspect::run(args, &cli.global),
        cli::Command::Embed(args) => commands::embed::run(args, &cli.global),
        cli::Command::Run(args) => commands::run::run(args, &cli.global),
        cli::Command::Generate(args) => commands::generate::run(args, &cli.global),
        cli::Command::Train(args) => commands::train::run(args, &cli.global),
        cli::Command::Eval(args) => commands::eval::run(args, &cli.global),
        cli::Command::Bench(args) => commands::bench::run(args, &cli.global),
    };
    if let Err(e) = result {
        eprintln!("t2l: error: {e}");
        std::process::exit(1);
    }
}
