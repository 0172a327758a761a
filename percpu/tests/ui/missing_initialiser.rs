#[percpu::def_percpu]
static COUNTER: usize;

fn main() {}
