//! `weft-agency`: the tools an aid agency uses against a Weft node.

fn main() {
    eprintln!("weft-agency: no commands yet");
    std::process::exit(2);
}
