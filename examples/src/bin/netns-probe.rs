//! `netns-probe`: the traffic tool the end-to-end test bed runs inside network namespaces.
//! See `examples::testbed::probe` for its commands and output.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(examples::testbed::probe::run(&args));
}
