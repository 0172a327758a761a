struct Pair(u32, u32);

#[percpu::def_percpu]
static PAIR: Pair = Pair(0, 0);

#[percpu::def_percpu]
static FLAG: bool = false;

fn main() {
    // Structs go through `with_current`; only primitives have `read_current`.
    let _ = PAIR.read_current();
    // `bool` is primitive but not an integer: no arithmetic.
    FLAG.add_current(true);
}
