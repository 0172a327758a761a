#[percpu::def_percpu]
static NAME: str = *"cpu";

#[percpu::def_percpu]
static BYTES: [u8] = [0; 4];

#[percpu::def_percpu]
static HANDLER: dyn Fn() = || {};

fn main() {}
