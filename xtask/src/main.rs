//! `cargo xtask <command>`: workspace chores.

fn main() {
    let cmd = std::env::args().nth(1).unwrap_or_default();
    match cmd.as_str() {
        "fetch-model" => match xtask::default_model() {
            Ok(p) => println!("{}", p.display()),
            Err(e) => {
                eprintln!("xtask: {e}");
                std::process::exit(1);
            }
        },
        _ => {
            eprintln!(
                "usage: cargo xtask fetch-model    # fetch the default model, print its path"
            );
            std::process::exit(2);
        }
    }
}
