#pragma once

// Synthetic kernel images for the boot-protocol tests: the smallest bytes each parser accepts,
// which tests then truncate or corrupt.

#include <asm/bootparam.h>
#include <elf.h>

#include <cstdint>
#include <cstring>
#include <vector>

namespace haven::arch::x86::testing {

// A bzImage with `setup_sects` setup sectors after the boot sector and `kernel_size` bytes of
// protected-mode kernel (filled with 0xk9-ish pattern so copies can be checked).
inline std::vector<uint8_t> make_bzimage(uint8_t setup_sects = 4, size_t kernel_size = 4096) {
  size_t setup_size = (size_t{setup_sects} + 1) * 512;
  std::vector<uint8_t> file(setup_size + kernel_size, 0);
  setup_header hdr{};
  hdr.setup_sects = setup_sects;
  hdr.syssize = static_cast<uint32_t>(kernel_size / 16);
  hdr.boot_flag = 0xaa55;
  hdr.jump = 0x66eb;  // jmp short over the header: header ends at 0x202 + 0x66 = 0x268
  hdr.header = 0x53726448;
  hdr.version = 0x020f;
  hdr.loadflags = LOADED_HIGH;
  hdr.xloadflags = XLF_KERNEL_64;
  hdr.cmdline_size = 2048;
  hdr.kernel_alignment = 0x200000;
  hdr.relocatable_kernel = 1;
  hdr.init_size = static_cast<uint32_t>(kernel_size * 4);
  hdr.initrd_addr_max = 0x7fffffff;
  std::memcpy(file.data() + 0x1f1, &hdr, sizeof(hdr));
  for (size_t i = 0; i < kernel_size; ++i) file[setup_size + i] = static_cast<uint8_t>(i * 7 + 1);
  return file;
}

inline setup_header& header_of(std::vector<uint8_t>& file) {
  return *reinterpret_cast<setup_header*>(file.data() + 0x1f1);
}

// An ELF64 x86-64 executable with one PT_LOAD of `code_size` bytes at `load_address` (and
// `bss` extra zero bytes) and, if `with_pvh_note`, a PT_NOTE holding the PVH entry note.
inline std::vector<uint8_t> make_elf(uint64_t load_address = 0x1000000, size_t code_size = 256,
                                     bool with_pvh_note = true, uint64_t bss = 0) {
  struct PvhNote {
    Elf64_Nhdr header;
    char name[4];
    uint32_t entry;
  };
  const size_t phnum = with_pvh_note ? 2 : 1;
  const size_t note_offset = sizeof(Elf64_Ehdr) + phnum * sizeof(Elf64_Phdr);
  const size_t code_offset = 0x1000;
  std::vector<uint8_t> file(code_offset + code_size, 0);
  Elf64_Ehdr ehdr{};
  std::memcpy(ehdr.e_ident, ELFMAG, SELFMAG);
  ehdr.e_ident[EI_CLASS] = ELFCLASS64;
  ehdr.e_ident[EI_DATA] = ELFDATA2LSB;
  ehdr.e_ident[EI_VERSION] = EV_CURRENT;
  ehdr.e_type = ET_EXEC;
  ehdr.e_machine = EM_X86_64;
  ehdr.e_version = EV_CURRENT;
  ehdr.e_entry = load_address;
  ehdr.e_phoff = sizeof(Elf64_Ehdr);
  ehdr.e_ehsize = sizeof(Elf64_Ehdr);
  ehdr.e_phentsize = sizeof(Elf64_Phdr);
  ehdr.e_phnum = static_cast<uint16_t>(phnum);
  std::memcpy(file.data(), &ehdr, sizeof(ehdr));
  Elf64_Phdr load{};
  load.p_type = PT_LOAD;
  load.p_offset = code_offset;
  load.p_vaddr = load_address + 0xffffffff80000000ull;
  load.p_paddr = load_address;
  load.p_filesz = code_size;
  load.p_memsz = code_size + bss;
  std::memcpy(file.data() + ehdr.e_phoff, &load, sizeof(load));
  if (with_pvh_note) {
    PvhNote note{{4, 4, 18}, {'X', 'e', 'n', 0}, static_cast<uint32_t>(load_address + 0x10)};
    Elf64_Phdr phdr{};
    phdr.p_type = PT_NOTE;
    phdr.p_offset = note_offset;
    phdr.p_filesz = sizeof(note);
    phdr.p_memsz = sizeof(note);
    std::memcpy(file.data() + ehdr.e_phoff + sizeof(Elf64_Phdr), &phdr, sizeof(phdr));
    std::memcpy(file.data() + note_offset, &note, sizeof(note));
  }
  for (size_t i = 0; i < code_size; ++i) file[code_offset + i] = static_cast<uint8_t>(0x90 + i);
  return file;
}

inline Elf64_Ehdr& elf_header(std::vector<uint8_t>& file) {
  return *reinterpret_cast<Elf64_Ehdr*>(file.data());
}
inline Elf64_Phdr& program_header(std::vector<uint8_t>& file, size_t index) {
  return *reinterpret_cast<Elf64_Phdr*>(file.data() + sizeof(Elf64_Ehdr) +
                                        index * sizeof(Elf64_Phdr));
}

}  // namespace haven::arch::x86::testing
