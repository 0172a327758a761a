//! What the debug information says about each per-CPU variable: its type's
//! name, its size and its alignment, read with `gimli` from the file's DWARF.
//!
//! ELF records no alignment per symbol, so without DWARF the report can only
//! infer one from the offset (see [`crate::report::Variable::align`]). With
//! DWARF, rustc gives every static a `DW_AT_alignment` and a type.
//!
//! Only the variables asked for are resolved, matched by their symbol: the
//! DIE's `DW_AT_linkage_name` (a mangled Rust static) or, for an unmangled
//! one, its `DW_AT_name`. Malformed or compressed debug information reads as
//! none: it never makes a file unusable, and never panics (`gimli` checks
//! every bound).

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use gimli::{AttributeValue, DwTag, EndianSlice, RunTimeEndian, UnitOffset};
use object::{Object, ObjectSection};

/// What DWARF tells about one variable.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VarInfo {
    /// The type as Rust spells it: `usize`, `[u8; 4096]`,
    /// `kernel::sched::RunQueue`, `*mut u32`.
    pub type_name: Option<String>,
    /// The type's size in bytes.
    pub size: Option<u64>,
    /// The variable's alignment (`DW_AT_alignment` of the variable, else of
    /// its type).
    pub align: Option<u64>,
}

/// The debug information of a file, for the variables asked for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DebugInfo {
    /// Whether the file has a usable `.debug_info` at all.
    pub present: bool,
    /// Per symbol, what DWARF says about it.
    pub variables: HashMap<String, VarInfo>,
}

/// How deep a chain of typedefs, qualifiers and array elements is followed.
const MAX_TYPE_DEPTH: usize = 32;

type Reader<'a> = EndianSlice<'a, RunTimeEndian>;

/// Reads what the DWARF of the ELF file `data` says about the variables
/// whose symbols are in `wanted`. A file without (usable) DWARF gives
/// `present: false` and no variable.
pub fn read(data: &[u8], wanted: &HashSet<&str>) -> DebugInfo {
    read_inner(data, wanted).unwrap_or_default()
}

fn read_inner(data: &[u8], wanted: &HashSet<&str>) -> Option<DebugInfo> {
    let file = object::File::parse(data).ok()?;
    let info = file.section_by_name(".debug_info")?;
    if is_compressed(&info) {
        return None;
    }
    let endian = if file.is_little_endian() {
        RunTimeEndian::Little
    } else {
        RunTimeEndian::Big
    };
    let load = |id: gimli::SectionId| -> Result<Reader<'_>, gimli::Error> {
        let bytes = file
            .section_by_name(id.name())
            .filter(|s| !is_compressed(s))
            .and_then(|s| s.data().ok())
            .unwrap_or(&[]);
        Ok(EndianSlice::new(bytes, endian))
    };
    let dwarf = gimli::Dwarf::load(load).ok()?;
    let mut out = DebugInfo {
        present: true,
        variables: HashMap::new(),
    };
    let mut units = dwarf.units();
    // A unit that does not parse ends the walk: what was read so far stands.
    while let Ok(Some(header)) = units.next() {
        let Ok(unit) = dwarf.unit(header) else { break };
        if read_unit(&dwarf, &unit, wanted, &mut out.variables).is_err() {
            break;
        }
        if out.variables.len() == wanted.len() {
            break;
        }
    }
    Some(out)
}

fn is_compressed(section: &object::Section<'_, '_>) -> bool {
    section
        .compressed_file_range()
        .map_or(true, |r| r.format != object::CompressionFormat::None)
}

/// A type DIE, as far as naming and sizing it goes.
#[derive(Clone, Debug)]
struct TypeDie {
    tag: DwTag,
    /// The qualified name (namespaces joined with `::`), if it has a name.
    name: Option<String>,
    byte_size: Option<u64>,
    align: Option<u64>,
    /// `DW_AT_type`: the pointee, the element, the aliased type.
    of: Option<UnitOffset>,
    /// For an array: the element count of its (first) subrange.
    count: Option<u64>,
}

/// A variable DIE that names a wanted symbol.
struct VarDie {
    symbol: String,
    align: Option<u64>,
    of: Option<UnitOffset>,
}

fn read_unit(
    dwarf: &gimli::Dwarf<Reader<'_>>,
    unit: &gimli::Unit<Reader<'_>>,
    wanted: &HashSet<&str>,
    found: &mut HashMap<String, VarInfo>,
) -> Result<(), gimli::Error> {
    let mut types: HashMap<UnitOffset, TypeDie> = HashMap::new();
    let mut vars: Vec<VarDie> = Vec::new();
    // The open DIEs above the current one: (depth, namespace name or None,
    // offset when it is an array).
    let mut open: Vec<(isize, Option<String>, Option<UnitOffset>)> = Vec::new();
    let mut depth = 0isize;
    let mut cursor = unit.entries();
    while let Some((delta, entry)) = cursor.next_dfs()? {
        depth += delta;
        while open.last().is_some_and(|(d, _, _)| *d >= depth) {
            open.pop();
        }
        let tag = entry.tag();
        let string = |attr: gimli::DwAt| -> Option<String> {
            let value = entry.attr_value(attr).ok()??;
            let raw = dwarf.attr_string(unit, value).ok()?;
            Some(match raw.to_string_lossy() {
                Cow::Borrowed(s) => s.to_string(),
                Cow::Owned(s) => s,
            })
        };
        let number =
            |attr: gimli::DwAt| -> Option<u64> { entry.attr_value(attr).ok()??.udata_value() };
        let reference = || -> Option<UnitOffset> {
            match entry.attr_value(gimli::DW_AT_type).ok()?? {
                AttributeValue::UnitRef(offset) => Some(offset),
                _ => None,
            }
        };
        match tag {
            gimli::DW_TAG_namespace => {
                open.push((
                    depth,
                    Some(string(gimli::DW_AT_name).unwrap_or_default()),
                    None,
                ));
                continue;
            }
            gimli::DW_TAG_variable => {
                let linkage = string(gimli::DW_AT_linkage_name)
                    .or_else(|| string(gimli::DW_AT_MIPS_linkage_name));
                let symbol = linkage.or_else(|| string(gimli::DW_AT_name));
                if let Some(symbol) = symbol.filter(|s| wanted.contains(s.as_str())) {
                    if !found.contains_key(&symbol) {
                        vars.push(VarDie {
                            symbol,
                            align: number(gimli::DW_AT_alignment),
                            of: reference(),
                        });
                    }
                }
            }
            gimli::DW_TAG_subrange_type => {
                // The count of the array this subrange belongs to.
                if let Some((_, _, Some(array))) = open.last() {
                    let count = number(gimli::DW_AT_count)
                        .or_else(|| number(gimli::DW_AT_upper_bound).map(|u| u.saturating_add(1)));
                    if let Some(ty) = types.get_mut(array) {
                        ty.count = ty.count.or(count);
                    }
                }
            }
            gimli::DW_TAG_base_type
            | gimli::DW_TAG_structure_type
            | gimli::DW_TAG_union_type
            | gimli::DW_TAG_enumeration_type
            | gimli::DW_TAG_class_type
            | gimli::DW_TAG_typedef
            | gimli::DW_TAG_pointer_type
            | gimli::DW_TAG_reference_type
            | gimli::DW_TAG_array_type
            | gimli::DW_TAG_const_type
            | gimli::DW_TAG_volatile_type
            | gimli::DW_TAG_subroutine_type => {
                let qualify = matches!(
                    tag,
                    gimli::DW_TAG_structure_type
                        | gimli::DW_TAG_union_type
                        | gimli::DW_TAG_enumeration_type
                        | gimli::DW_TAG_class_type
                        | gimli::DW_TAG_typedef
                );
                let name = string(gimli::DW_AT_name).map(|name| {
                    let path: Vec<&str> =
                        open.iter().filter_map(|(_, ns, _)| ns.as_deref()).collect();
                    if qualify && !path.is_empty() {
                        format!("{}::{name}", path.join("::"))
                    } else {
                        name
                    }
                });
                types.insert(
                    entry.offset(),
                    TypeDie {
                        tag,
                        name,
                        byte_size: number(gimli::DW_AT_byte_size),
                        align: number(gimli::DW_AT_alignment),
                        of: reference(),
                        count: None,
                    },
                );
            }
            _ => {}
        }
        if entry.has_children() {
            let array = (tag == gimli::DW_TAG_array_type).then(|| entry.offset());
            open.push((depth, None, array));
        }
    }
    for var in vars {
        let ty = var.of;
        let info = VarInfo {
            type_name: ty.and_then(|t| type_name(&types, t, 0)),
            size: ty.and_then(|t| type_size(&types, t, 0)),
            align: var
                .align
                .or_else(|| ty.and_then(|t| type_align(&types, t, 0))),
        };
        found.insert(var.symbol, info);
    }
    Ok(())
}

/// Whether the type only qualifies or renames another, for sizing.
fn is_alias(tag: DwTag) -> bool {
    matches!(
        tag,
        gimli::DW_TAG_typedef | gimli::DW_TAG_const_type | gimli::DW_TAG_volatile_type
    )
}

fn type_name(types: &HashMap<UnitOffset, TypeDie>, at: UnitOffset, depth: usize) -> Option<String> {
    let ty = types.get(&at)?;
    if depth > MAX_TYPE_DEPTH {
        return None;
    }
    if let Some(name) = &ty.name {
        return Some(name.clone());
    }
    match ty.tag {
        gimli::DW_TAG_array_type => {
            let element = type_name(types, ty.of?, depth + 1)?;
            Some(match ty.count {
                Some(n) => format!("[{element}; {n}]"),
                None => format!("[{element}]"),
            })
        }
        gimli::DW_TAG_pointer_type => {
            Some(format!("*const {}", type_name(types, ty.of?, depth + 1)?))
        }
        gimli::DW_TAG_reference_type => Some(format!("&{}", type_name(types, ty.of?, depth + 1)?)),
        tag if is_alias(tag) => type_name(types, ty.of?, depth + 1),
        _ => None,
    }
}

fn type_size(types: &HashMap<UnitOffset, TypeDie>, at: UnitOffset, depth: usize) -> Option<u64> {
    let ty = types.get(&at)?;
    if depth > MAX_TYPE_DEPTH {
        return None;
    }
    if let Some(size) = ty.byte_size {
        return Some(size);
    }
    match ty.tag {
        gimli::DW_TAG_array_type => ty.count?.checked_mul(type_size(types, ty.of?, depth + 1)?),
        tag if is_alias(tag) => type_size(types, ty.of?, depth + 1),
        _ => None,
    }
}

fn type_align(types: &HashMap<UnitOffset, TypeDie>, at: UnitOffset, depth: usize) -> Option<u64> {
    let ty = types.get(&at)?;
    if depth > MAX_TYPE_DEPTH {
        return None;
    }
    if let Some(align) = ty.align {
        return Some(align);
    }
    match ty.tag {
        tag if is_alias(tag) || tag == gimli::DW_TAG_array_type => {
            type_align(types, ty.of?, depth + 1)
        }
        _ => None,
    }
}
