//! A reader of the flattened device tree (DTB) that QEMU's `virt` machines
//! hand over (AArch64, ARMv7-A, RISC-V 32/64, LoongArch64): just enough to
//! walk the nodes under `/cpus`. The format is the devicetree
//! specification's: a big-endian header, then a structure block of tokens
//! and a strings block of property names.

/// The header's first word.
const MAGIC: u32 = 0xd00d_feed;
/// Structure block tokens.
const BEGIN_NODE: u32 = 1;
const END_NODE: u32 = 2;
const PROP: u32 = 3;
const NOP: u32 = 4;
const END: u32 = 9;

/// A device tree in memory, bounds-checked against its header's size.
pub struct Fdt {
    blob: &'static [u8],
    structs: usize,
    strings: usize,
}

/// What went wrong reading a device tree.
pub type Error = &'static str;

impl Fdt {
    /// The device tree at physical address `addr`, if its header is sane.
    ///
    /// # Safety
    ///
    /// `addr` must be readable for 40 bytes and, if the magic matches, for
    /// the header's `totalsize` bytes, which nothing writes while the
    /// returned value is used.
    pub unsafe fn at(addr: usize) -> Result<Fdt, Error> {
        if addr == 0 || addr % 4 != 0 {
            return Err("no device tree address");
        }
        let word = |i: usize| u32::from_be(core::ptr::read_volatile((addr as *const u32).add(i)));
        if word(0) != MAGIC {
            return Err("no device tree (bad magic)");
        }
        let total = word(1) as usize;
        let (structs, strings) = (word(2) as usize, word(3) as usize);
        // Version 17's header is 40 bytes; the blocks follow it.
        if !(40..=16 << 20).contains(&total) || structs >= total || strings > total {
            return Err("device tree header out of bounds");
        }
        // SAFETY: the caller vouches for `total` bytes at `addr`.
        let blob = core::slice::from_raw_parts(addr as *const u8, total);
        Ok(Fdt {
            blob,
            structs,
            strings,
        })
    }

    fn be32(&self, at: usize) -> Result<u32, Error> {
        let bytes = self.blob.get(at..at + 4).ok_or("device tree truncated")?;
        Ok(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    /// The NUL-terminated string at `at`, without the NUL.
    fn cstr(&self, at: usize) -> Result<&'static [u8], Error> {
        let rest: &'static [u8] = self.blob.get(at..).ok_or("device tree truncated")?;
        let len = rest
            .iter()
            .position(|&b| b == 0)
            .ok_or("unterminated string in the device tree")?;
        Ok(&rest[..len])
    }

    /// Calls `cpu(reg)` for every node directly under `/cpus` whose
    /// `device_type` is `"cpu"` (so not `cpu-map`), in the tree's order,
    /// unless its `status` says it is disabled. `reg` is read with
    /// `/cpus`'s `#address-cells` (1 or 2 cells): the MPIDR on Arm, the
    /// hart id on RISC-V, the physical CPU id on LoongArch.
    pub fn for_each_cpu(&self, mut cpu: impl FnMut(u64)) -> Result<(), Error> {
        let mut at = self.structs;
        // Depth 1 is the root node, 2 its children, 3 theirs.
        let mut depth = 0usize;
        let mut in_cpus = false;
        let mut address_cells = 1u32;
        // Per CPU node: its reg, whether it is a CPU, whether it is disabled.
        let mut node = CpuNode::default();
        loop {
            let token = self.be32(at)?;
            at += 4;
            match token {
                BEGIN_NODE => {
                    let name = self.cstr(at)?;
                    at = align4(at + name.len() + 1);
                    depth += 1;
                    if depth == 2 {
                        in_cpus = name == b"cpus";
                    } else if depth == 3 && in_cpus {
                        node = CpuNode::default();
                    }
                }
                END_NODE => {
                    if depth == 3 && in_cpus && node.is_cpu && !node.disabled {
                        cpu(node.reg.ok_or("a /cpus node without reg")?);
                    }
                    if depth == 2 && in_cpus {
                        return Ok(());
                    }
                    depth = depth.checked_sub(1).ok_or("unbalanced device tree")?;
                    if depth == 0 {
                        return Err("no /cpus node in the device tree");
                    }
                }
                PROP => {
                    let len = self.be32(at)? as usize;
                    let name = self.cstr(self.strings + self.be32(at + 4)? as usize)?;
                    let value: &'static [u8] = self
                        .blob
                        .get(at + 8..at + 8 + len)
                        .ok_or("device tree property out of bounds")?;
                    at = align4(at + 8 + len);
                    if !in_cpus {
                        continue;
                    }
                    if depth == 2 && name == b"#address-cells" {
                        address_cells =
                            u32::from_be_bytes(value.try_into().map_err(|_| "bad #address-cells")?);
                    } else if depth == 3 {
                        match name {
                            b"device_type" => node.is_cpu = value == b"cpu\0",
                            b"status" => node.disabled = value.starts_with(b"disabled"),
                            b"reg" => node.reg = Some(read_cells(value, address_cells)?),
                            _ => {}
                        }
                    }
                }
                NOP => {}
                END => return Err("no /cpus node in the device tree"),
                _ => return Err("bad token in the device tree"),
            }
        }
    }
}

/// What a node under `/cpus` said about itself so far.
#[derive(Default)]
struct CpuNode {
    reg: Option<u64>,
    is_cpu: bool,
    disabled: bool,
}

fn align4(at: usize) -> usize {
    (at + 3) & !3
}

/// The first address of a `reg` value of `cells` 32-bit cells.
fn read_cells(value: &[u8], cells: u32) -> Result<u64, Error> {
    let cells = cells as usize;
    if cells == 0 || cells > 2 || value.len() < 4 * cells {
        return Err("a /cpus reg the kernel cannot read");
    }
    Ok(value[..4 * cells].chunks_exact(4).fold(0, |acc, c| {
        acc << 32 | u64::from(u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
    }))
}
