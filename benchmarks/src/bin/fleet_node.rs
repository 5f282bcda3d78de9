//! One process of a fleet over one Redis, driven by lines on stdin: see the
//! library's `fleet` module (`benchmarks::fleet`) for its arguments and commands.

fn main() {
    benchmarks::fleet::node_main(std::env::args().skip(1));
}
