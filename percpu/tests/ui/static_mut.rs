#[percpu::def_percpu]
static mut COUNTER: usize = 0;

fn main() {}
