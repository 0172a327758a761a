//! `init(base, n)` with a 1 MiB template, against `copy_nonoverlapping`.
//! The template is this binary's `.percpu`: the array below plus the
//! runtime's own per-CPU word.

mod common;

#[percpu::def_percpu]
static TEMPLATE: [u8; (1 << 20) - 8] = [0x5a; (1 << 20) - 8];

fn main() {
    // Keep the array: the template must hold it whether or not it is used.
    std::hint::black_box(TEMPLATE.offset());
    common::init_bench("1 MiB", &[1, 64, 1024]);
}
