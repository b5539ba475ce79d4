#include "arch/x86/elf_kernel.h"

#include <elf.h>

#include <cstring>

namespace haven::arch::x86 {
namespace {

// The Xen ELF note that carries the 32-bit PVH entry point (xen/interface/elfnote.h).
constexpr uint32_t kXenElfnotePhys32Entry = 18;
constexpr size_t kMaxSegments = 64;

template <class T>
T read_at(std::span<const uint8_t> bytes, size_t offset) {
  T value;
  std::memcpy(&value, bytes.data() + offset, sizeof(T));
  return value;
}

bool fits(std::span<const uint8_t> file, uint64_t offset, uint64_t size) {
  return offset <= file.size() && size <= file.size() - offset;
}

size_t align4(size_t value) {
  return (value + 3) & ~size_t{3};
}

// Walks one PT_NOTE segment looking for the PVH entry note.
Result<std::optional<uint32_t>> find_pvh_note(std::span<const uint8_t> notes) {
  size_t offset = 0;
  while (notes.size() - offset >= sizeof(Elf64_Nhdr)) {
    auto note = read_at<Elf64_Nhdr>(notes, offset);
    size_t name_offset = offset + sizeof(Elf64_Nhdr);
    if (note.n_namesz > notes.size() || note.n_descsz > notes.size())
      return make_error("ELF note at offset {} runs past its segment", offset);
    size_t desc_offset = name_offset + align4(note.n_namesz);
    size_t next = desc_offset + align4(note.n_descsz);
    if (desc_offset > notes.size() || next > notes.size())
      return make_error("ELF note at offset {} runs past its segment", offset);
    bool is_xen = note.n_namesz == 4 && std::memcmp(notes.data() + name_offset, "Xen", 4) == 0;
    if (is_xen && note.n_type == kXenElfnotePhys32Entry) {
      if (note.n_descsz == 4) return read_at<uint32_t>(notes, desc_offset);
      if (note.n_descsz == 8) {
        uint64_t entry = read_at<uint64_t>(notes, desc_offset);
        if (entry > UINT32_MAX) return make_error("PVH entry point {:#x} is above 4 GiB", entry);
        return static_cast<uint32_t>(entry);
      }
      return make_error("PVH entry note has a {}-byte descriptor", note.n_descsz);
    }
    offset = next;
  }
  return std::optional<uint32_t>();
}

}  // namespace

bool looks_like_elf(std::span<const uint8_t> file) {
  return file.size() >= SELFMAG && std::memcmp(file.data(), ELFMAG, SELFMAG) == 0;
}

Result<ElfKernel> parse_elf_kernel(std::span<const uint8_t> file) {
  if (file.size() < sizeof(Elf64_Ehdr)) return make_error("ELF: file too short for a header");
  if (!looks_like_elf(file)) return make_error("ELF: bad magic");
  auto ehdr = read_at<Elf64_Ehdr>(file, 0);
  if (ehdr.e_ident[EI_CLASS] != ELFCLASS64 || ehdr.e_ident[EI_DATA] != ELFDATA2LSB)
    return make_error("ELF: not a 64-bit little-endian file");
  if (ehdr.e_machine != EM_X86_64)
    return make_error("ELF: machine {} is not x86-64", ehdr.e_machine);
  if (ehdr.e_type != ET_EXEC) return make_error("ELF: not an executable (type {})", ehdr.e_type);
  if (ehdr.e_phentsize != sizeof(Elf64_Phdr))
    return make_error("ELF: program header size {} is not {}", ehdr.e_phentsize,
                      sizeof(Elf64_Phdr));
  if (ehdr.e_phnum == 0 || ehdr.e_phnum > kMaxSegments)
    return make_error("ELF: {} program headers (expected 1..{})", ehdr.e_phnum, kMaxSegments);
  if (!fits(file, ehdr.e_phoff, uint64_t{ehdr.e_phnum} * sizeof(Elf64_Phdr)))
    return make_error("ELF: program headers lie outside the file");

  ElfKernel kernel;
  for (size_t i = 0; i < ehdr.e_phnum; ++i) {
    auto phdr = read_at<Elf64_Phdr>(file, ehdr.e_phoff + i * sizeof(Elf64_Phdr));
    if (phdr.p_type != PT_LOAD && phdr.p_type != PT_NOTE) continue;
    if (!fits(file, phdr.p_offset, phdr.p_filesz))
      return make_error("ELF: segment {} ({} bytes at offset {:#x}) lies outside the file", i,
                        phdr.p_filesz, phdr.p_offset);
    auto bytes = file.subspan(phdr.p_offset, phdr.p_filesz);
    if (phdr.p_type == PT_NOTE) {
      auto entry = TRY(with_context(find_pvh_note(bytes), "ELF: segment {}", i));
      if (entry && !kernel.pvh_entry) kernel.pvh_entry = entry;
      continue;
    }
    if (phdr.p_filesz > phdr.p_memsz)
      return make_error("ELF: segment {} has more file bytes ({}) than memory bytes ({})", i,
                        phdr.p_filesz, phdr.p_memsz);
    if (phdr.p_paddr + phdr.p_memsz < phdr.p_paddr)
      return make_error("ELF: segment {} wraps around the address space", i);
    kernel.segments.push_back({phdr.p_paddr, bytes, phdr.p_memsz});
  }
  if (kernel.segments.empty()) return make_error("ELF: no loadable segments");
  return kernel;
}

}  // namespace haven::arch::x86
