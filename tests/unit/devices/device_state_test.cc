#include "devices/device_state.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace haven::devices {
namespace {

// Expects `result` to have failed with a message containing `what`.
template <class T>
void expect_error(const Result<T>& result, const std::string& what) {
  ASSERT_FALSE(result) << "accepted; expected an error about " << what;
  EXPECT_NE(result.error().message().find(what), std::string::npos) << result.error().message();
}

// Fields as they come back from a snapshot file: parsed from its text.
DeviceState parse(const char* text) {
  return DeviceState::parse(text);
}

TEST(StateField, ReadsEachKindOfField) {
  DeviceState state = parse(R"({"byte": 200, "word": 65535, "wide": 18446744073709551615,
                                "negative": -5, "flag": true, "text": "uart",
                                "int64": -9223372036854775808, "zero": 0})");
  EXPECT_EQ(state_field<uint8_t>(state, "byte").value(), 200);
  EXPECT_EQ(state_field<uint16_t>(state, "word").value(), 65535);
  EXPECT_EQ(state_field<uint64_t>(state, "wide").value(), UINT64_MAX);
  EXPECT_EQ(state_field<int8_t>(state, "negative").value(), -5);
  EXPECT_EQ(state_field<int64_t>(state, "int64").value(), INT64_MIN);
  EXPECT_EQ(state_field<int32_t>(state, "byte").value(), 200) << "a positive into a signed type";
  EXPECT_EQ(state_field<uint32_t>(state, "zero").value(), 0u);
  EXPECT_TRUE(state_field<bool>(state, "flag").value());
  EXPECT_EQ(state_field<std::string>(state, "text").value(), "uart");
}

TEST(StateField, ReadsWhatUnsignedMembersSaved) {
  // Devices save their registers straight from their (unsigned) members.
  DeviceState state = {{"lcr", uint8_t{0x83}}, {"divisor", uint16_t{12}}, {"offset", int64_t{-7}}};
  EXPECT_EQ(state_field<uint8_t>(state, "lcr").value(), 0x83);
  EXPECT_EQ(state_field<uint16_t>(state, "divisor").value(), 12);
  EXPECT_EQ(state_field<int64_t>(state, "offset").value(), -7);
}

TEST(StateField, NumbersOutOfTheTypesRangeAreRefused) {
  DeviceState state = parse(R"({"big": 300, "negative": -1, "huge": 18446744073709551615,
                                "low": -129, "above_int64": 9223372036854775808})");
  expect_error(state_field<uint8_t>(state, "big"), "'big' is out of range");
  expect_error(state_field<uint64_t>(state, "negative"), "'negative' is out of range");
  expect_error(state_field<uint8_t>(state, "negative"), "out of range");
  expect_error(state_field<uint32_t>(state, "huge"), "'huge' is out of range");
  expect_error(state_field<int8_t>(state, "low"), "'low' is out of range");
  expect_error(state_field<int8_t>(state, "big"), "'big' is out of range");
  expect_error(state_field<int64_t>(state, "above_int64"), "out of range");
  expect_error(state_field<int64_t>(state, "huge"), "out of range");
}

TEST(StateField, AMissingFieldIsNamed) {
  DeviceState state = parse(R"({"present": 1})");
  expect_error(state_field<uint8_t>(state, "lcr"), "state has no 'lcr'");
  expect_error(state_field<bool>(state, "enabled"), "no 'enabled'");
  expect_error(state_field<std::string>(state, "config"), "no 'config'");
  // Not an object at all (a device that saved nothing, or a damaged file).
  expect_error(state_field<uint8_t>(DeviceState(), "lcr"), "no 'lcr'");
  expect_error(state_field<uint8_t>(DeviceState::array({1, 2}), "lcr"), "no 'lcr'");
  expect_error(state_field<uint8_t>(DeviceState("lcr"), "lcr"), "no 'lcr'");
}

TEST(StateField, TypeMismatchesAreRefused) {
  DeviceState state = parse(R"({"number": 1, "flag": false, "text": "1", "fraction": 1.5,
                                "list": [1, 2, 3], "nothing": null, "object": {"a": 1}})");
  expect_error(state_field<bool>(state, "number"), "'number' is not a boolean");
  expect_error(state_field<bool>(state, "text"), "'text' is not a boolean");
  expect_error(state_field<bool>(state, "nothing"), "not a boolean");
  expect_error(state_field<uint8_t>(state, "flag"), "'flag' is not an integer");
  expect_error(state_field<uint8_t>(state, "text"), "'text' is not an integer");
  expect_error(state_field<uint8_t>(state, "fraction"), "'fraction' is not an integer");
  expect_error(state_field<int32_t>(state, "list"), "not an integer");
  expect_error(state_field<std::string>(state, "number"), "'number' is not a string");
  expect_error(state_field<std::string>(state, "object"), "not a string");
}

TEST(StateBytes, RoundTripIntoAFixedSpan) {
  const std::array<uint8_t, 5> bytes = {0x00, 0x10, 0xab, 0xff, 0x7e};
  DeviceState state = {{"ram", state_bytes(bytes)}};
  EXPECT_EQ(state["ram"], "0010abff7e") << "hex, to be read by eye";
  std::array<uint8_t, 5> back{};
  ASSERT_TRUE(state_bytes_into(state, "ram", back));
  EXPECT_EQ(back, bytes);
  EXPECT_EQ(state_bytes({}), "");
}

TEST(StateBytes, WrongLengthOrNonHexIsRefused) {
  const std::array<uint8_t, 4> four = {1, 2, 3, 4};
  DeviceState state = {
      {"four", state_bytes(four)}, {"odd", "abc"}, {"junk", "zz000000"}, {"number", 1234u}};
  std::array<uint8_t, 3> three{};
  expect_error(state_bytes_into(state, "four", three), "'four' holds 4 bytes, not 3");
  std::array<uint8_t, 5> five{};
  expect_error(state_bytes_into(state, "four", five), "'four' holds 4 bytes, not 5");
  std::array<uint8_t, 2> two{};
  expect_error(state_bytes_into(state, "odd", two), "'odd'");
  std::array<uint8_t, 4> out{};
  expect_error(state_bytes_into(state, "junk", out), "state field 'junk'");
  expect_error(state_bytes_into(state, "number", out), "'number' is not a string");
  expect_error(state_bytes_into(state, "missing", out), "no 'missing'");
}

TEST(StateByteVector, RoundTripsUpToTheLimit) {
  std::vector<uint8_t> bytes = {9, 8, 7, 6, 5, 4, 3};
  DeviceState state = {{"input", state_bytes(bytes)}, {"empty", ""}};
  EXPECT_EQ(state_byte_vector(state, "input", 7).value(), bytes);
  EXPECT_EQ(state_byte_vector(state, "input", 100).value(), bytes);
  EXPECT_TRUE(state_byte_vector(state, "empty", 0).value().empty());
}

TEST(StateByteVector, TooLongOddOrNonHexIsRefused) {
  DeviceState state = {{"input", "0102030405"}, {"odd", "010"}, {"junk", "01xx"}};
  expect_error(state_byte_vector(state, "input", 4), "'input' is not up to 4 bytes");
  expect_error(state_byte_vector(state, "odd", 10), "'odd' is not up to 10 bytes");
  expect_error(state_byte_vector(state, "junk", 10), "state field 'junk'");
  expect_error(state_byte_vector(state, "missing", 10), "no 'missing'");
}

struct Registers {
  uint64_t rip;
  uint32_t flags;
  uint8_t mode;
  uint8_t pad[3];
  bool operator==(const Registers&) const = default;
};

TEST(StateStruct, RoundTripsTheBytesOfAStruct) {
  Registers registers{0xffffffff81000000, 0x202, 3, {1, 2, 3}};
  DeviceState state = {{"regs", state_struct(registers)}};
  EXPECT_EQ(state["regs"].get<std::string>().size(), 2 * sizeof(Registers));
  auto back = state_struct_field<Registers>(state, "regs");
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(*back, registers);
}

TEST(StateStruct, ASizeMismatchIsRefused) {
  // A struct of another size (another kernel's layout, say) is never half-loaded.
  DeviceState state = {{"regs", state_struct(uint32_t{7})}};
  expect_error(state_struct_field<Registers>(state, "regs"), "'regs' holds 4 bytes, not 16");
  expect_error(state_struct_field<Registers>(state, "sregs"), "no 'sregs'");
}

}  // namespace
}  // namespace haven::devices
