#include "arch/x86/elf_kernel.h"

#include <gtest/gtest.h>

#include "unit/arch/x86/test_images.h"

namespace haven::arch::x86 {
namespace {

using testing::elf_header;
using testing::make_elf;
using testing::program_header;

std::string error_of(const std::vector<uint8_t>& file) {
  auto kernel = parse_elf_kernel(file);
  return kernel ? std::string("(parsed)") : kernel.error().message();
}

TEST(ElfKernel, ParsesSegmentsAndThePvhNote) {
  auto file = make_elf(0x1000000, 256, true, 0x1000);
  ASSERT_TRUE(looks_like_elf(file));
  auto kernel = parse_elf_kernel(file);
  ASSERT_TRUE(kernel) << kernel.error().message();
  ASSERT_EQ(kernel->segments.size(), 1u);
  EXPECT_EQ(kernel->segments[0].guest_address, 0x1000000u);
  EXPECT_EQ(kernel->segments[0].bytes.size(), 256u);
  EXPECT_EQ(kernel->segments[0].bytes[0], 0x90);
  EXPECT_EQ(kernel->segments[0].memory_size, 256u + 0x1000u);
  ASSERT_TRUE(kernel->pvh_entry);
  EXPECT_EQ(*kernel->pvh_entry, 0x1000010u);
}

TEST(ElfKernel, NoPvhNoteParsesWithoutEntry) {
  auto kernel = parse_elf_kernel(make_elf(0x1000000, 64, false));
  ASSERT_TRUE(kernel) << kernel.error().message();
  EXPECT_FALSE(kernel->pvh_entry);
}

TEST(ElfKernel, TruncatedAnywhereIsAnErrorNotACrash) {
  auto file = make_elf();
  for (size_t size : {size_t{0}, size_t{4}, size_t{63}, size_t{64}, size_t{100}, size_t{0x1000},
                      file.size() - 1}) {
    std::vector<uint8_t> cut(file.begin(), file.begin() + static_cast<long>(size));
    EXPECT_FALSE(parse_elf_kernel(cut)) << "truncated to " << size;
  }
}

TEST(ElfKernel, RejectsOtherKindsOfElf) {
  auto file = make_elf();
  elf_header(file).e_ident[EI_CLASS] = ELFCLASS32;
  EXPECT_NE(error_of(file).find("64-bit"), std::string::npos);
  file = make_elf();
  elf_header(file).e_machine = EM_AARCH64;
  EXPECT_NE(error_of(file).find("x86-64"), std::string::npos);
  file = make_elf();
  elf_header(file).e_type = ET_DYN;
  EXPECT_NE(error_of(file).find("executable"), std::string::npos);
  file = make_elf();
  file[1] = 'X';
  EXPECT_NE(error_of(file).find("magic"), std::string::npos);
}

TEST(ElfKernel, HostileProgramHeadersAreRejected) {
  auto file = make_elf();
  elf_header(file).e_phnum = 0xffff;
  EXPECT_FALSE(parse_elf_kernel(file));
  file = make_elf();
  elf_header(file).e_phoff = 0xfffffffffffffff0ull;  // offset + size wraps
  EXPECT_NE(error_of(file).find("outside the file"), std::string::npos);
  file = make_elf();
  elf_header(file).e_phentsize = 12;
  EXPECT_FALSE(parse_elf_kernel(file));
  file = make_elf();
  program_header(file, 0).p_offset = 0xffffffffffffff00ull;
  EXPECT_NE(error_of(file).find("outside the file"), std::string::npos) << error_of(file);
  file = make_elf();
  program_header(file, 0).p_filesz = 1 << 30;
  EXPECT_NE(error_of(file).find("outside the file"), std::string::npos);
  file = make_elf();
  program_header(file, 0).p_memsz = 1;  // less than its file bytes
  EXPECT_NE(error_of(file).find("more file bytes"), std::string::npos);
  file = make_elf();
  program_header(file, 0).p_paddr = 0xfffffffffffff000ull;
  program_header(file, 0).p_memsz = 0x2000;
  EXPECT_NE(error_of(file).find("wraps"), std::string::npos);
}

TEST(ElfKernel, HostileNotesAreRejected) {
  auto file = make_elf();
  // The note's descriptor size claims more bytes than its segment holds.
  size_t note_offset = program_header(file, 1).p_offset;
  reinterpret_cast<Elf64_Nhdr*>(file.data() + note_offset)->n_descsz = 0x7fffffff;
  EXPECT_NE(error_of(file).find("runs past"), std::string::npos) << error_of(file);
  file = make_elf();
  reinterpret_cast<Elf64_Nhdr*>(file.data() + note_offset)->n_namesz = 0xfffffff0;
  EXPECT_FALSE(parse_elf_kernel(file));
}

}  // namespace
}  // namespace haven::arch::x86
