#[percpu::def_percpu(cpus = 4)]
static COUNTER: usize = 0;

fn main() {}
