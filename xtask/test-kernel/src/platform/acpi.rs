//! The ACPI tables of an x86 PC, read just far enough to list its CPUs: the
//! RSDP (searched for where the ACPI specification puts it on a BIOS
//! system), the RSDT or XSDT it points to, and the MADT ("APIC") with one
//! Local APIC or Local x2APIC entry per CPU. Physical memory is
//! identity-mapped (the first 4 GiB, see `arch/x86_64.rs`).

use super::Error;

/// `"RSD PTR "`, the RSDP's signature.
const RSDP_SIGNATURE: &[u8; 8] = b"RSD PTR ";
/// The MADT's signature.
const MADT_SIGNATURE: &[u8; 4] = b"APIC";
/// Every system description table starts with a 36-byte header.
const HEADER_LEN: usize = 36;
/// MADT entry types.
const LOCAL_APIC: u8 = 0;
const LOCAL_X2APIC: u8 = 9;
/// Local APIC flags: the CPU is enabled (bit 1, online-capable, means it
/// could be hot-added later: not a CPU that runs now).
const ENABLED: u32 = 1;

/// `len` bytes of physical memory at `addr`.
///
/// # Safety
///
/// The range must be identity-mapped memory that nothing writes meanwhile.
unsafe fn phys(addr: usize, len: usize) -> &'static [u8] {
    // SAFETY: as the caller promises.
    core::slice::from_raw_parts(addr as *const u8, len)
}

fn sum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0u8, |acc, &b| acc.wrapping_add(b))
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Finds the RSDP: in the first KiB of the EBDA (whose segment the BIOS
/// data area holds at 0x40E), then in the BIOS ROM area 0xE0000..0xFFFFF,
/// on 16-byte boundaries, checked by its checksum.
fn find_rsdp() -> Option<usize> {
    // SAFETY: the BIOS data area is in low memory, identity-mapped.
    let ebda = usize::from(u16::from_le_bytes(
        unsafe { phys(0x40e, 2) }.try_into().ok()?,
    )) << 4;
    let mut ranges = [(ebda, ebda + 1024), (0xe_0000, 0x10_0000)];
    if ebda == 0 {
        ranges[0] = (0, 0);
    }
    for (start, end) in ranges {
        for addr in (start..end).step_by(16) {
            // SAFETY: low memory, identity-mapped; 20 bytes fit below 1 MiB.
            let head = unsafe { phys(addr, 20) };
            if &head[..8] == RSDP_SIGNATURE && sum(head) == 0 {
                return Some(addr);
            }
        }
    }
    None
}

/// A system description table's bytes, checked by signature, length and
/// checksum.
///
/// # Safety
///
/// `addr` must be the physical address of an ACPI table.
unsafe fn table(addr: usize, signature: Option<&[u8; 4]>) -> Result<&'static [u8], Error> {
    let head = phys(addr, HEADER_LEN);
    if signature.is_some_and(|s| &head[..4] != s) {
        return Err("an ACPI table has the wrong signature");
    }
    let len = le32(head, 4) as usize;
    if !(HEADER_LEN..=1 << 20).contains(&len) {
        return Err("an ACPI table has an impossible length");
    }
    let bytes = phys(addr, len);
    if sum(bytes) != 0 {
        return Err("an ACPI table has a bad checksum");
    }
    Ok(bytes)
}

/// Calls `cpu(apic_id)` for every enabled CPU of the MADT, in its order.
pub fn for_each_cpu(mut cpu: impl FnMut(u64)) -> Result<(), Error> {
    let rsdp_addr = find_rsdp().ok_or("no ACPI RSDP in the EBDA or the BIOS area")?;
    // SAFETY: the RSDP is in low memory; revision 2 makes it 36 bytes.
    let rsdp = unsafe { phys(rsdp_addr, 36) };
    // Revision 2 and later: the 64-bit XSDT, if there is one; else the RSDT.
    let xsdt = u64::from_le_bytes(rsdp[24..32].try_into().unwrap_or([0; 8]));
    let (root, entry_len) = if rsdp[15] >= 2 && xsdt != 0 && sum(&rsdp[..36]) == 0 {
        (xsdt as usize, 8)
    } else {
        (le32(rsdp, 16) as usize, 4)
    };
    // SAFETY: the RSDP points at the RSDT/XSDT.
    let root = unsafe { table(root, None)? };
    let mut madt = None;
    for entry in root[HEADER_LEN..].chunks_exact(entry_len) {
        let addr = if entry_len == 8 {
            u64::from_le_bytes(entry.try_into().unwrap_or([0; 8])) as usize
        } else {
            le32(entry, 0) as usize
        };
        // SAFETY: every RSDT/XSDT entry points at a table header.
        if unsafe { phys(addr, 4) } == MADT_SIGNATURE {
            // SAFETY: as above.
            madt = Some(unsafe { table(addr, Some(MADT_SIGNATURE))? });
            break;
        }
    }
    let madt = madt.ok_or("no MADT (APIC) table in the ACPI tables")?;
    // The header, the local APIC address and the flags, then the entries.
    let mut at = HEADER_LEN + 8;
    while at + 2 <= madt.len() {
        let (kind, len) = (madt[at], usize::from(madt[at + 1]));
        if len < 2 || at + len > madt.len() {
            return Err("a MADT entry runs past the table");
        }
        let entry = &madt[at..at + len];
        match kind {
            LOCAL_APIC if len >= 8 && le32(entry, 4) & ENABLED != 0 => cpu(u64::from(entry[3])),
            LOCAL_X2APIC if len >= 16 && le32(entry, 8) & ENABLED != 0 => {
                cpu(u64::from(le32(entry, 4)))
            }
            _ => {}
        }
        at += len;
    }
    Ok(())
}
