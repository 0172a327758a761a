#[percpu::def_percpu]
const COUNTER: usize = 0;

#[percpu::def_percpu]
fn counter() -> usize {
    0
}

fn main() {}
