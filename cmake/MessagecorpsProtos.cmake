# messagecorps_add_protos(<target> PROTOS a.proto ... [PROTO_ROOT dir] [IMPORT_DIRS dir ...])
#
# Compiles .proto files into C++ and adds the generated sources to <target>. The files may import
# messagecorps' own schemas (e.g. `import "protobuf/common/MessageData.proto";` to carry the
# envelope), which are found in MESSAGECORPS_PROTO_DIR. Generated headers keep the path of the
# .proto relative to PROTO_ROOT (default: the calling directory), so `foo/bar.proto` gives
# `#include "foo/bar.pb.h"`.
#
# Used by messagecorps itself and installed with its CMake package for user projects.
include_guard(GLOBAL)

function(messagecorps_add_protos target)
  cmake_parse_arguments(ARG "" "PROTO_ROOT;OUT_DIR" "PROTOS;IMPORT_DIRS" ${ARGN})
  if(NOT ARG_PROTOS)
    message(FATAL_ERROR "messagecorps_add_protos(${target}): no PROTOS given")
  endif()
  if(NOT ARG_PROTO_ROOT)
    set(ARG_PROTO_ROOT ${CMAKE_CURRENT_SOURCE_DIR})
  endif()
  if(NOT ARG_OUT_DIR)
    set(ARG_OUT_DIR ${CMAKE_CURRENT_BINARY_DIR}/${target}_protos)
  endif()
  if(TARGET protobuf::protoc)
    set(protoc $<TARGET_FILE:protobuf::protoc>)
  else()
    set(protoc ${Protobuf_PROTOC_EXECUTABLE})
  endif()

  get_filename_component(root ${ARG_PROTO_ROOT} ABSOLUTE)
  set(include_args -I${root})
  foreach(dir IN LISTS ARG_IMPORT_DIRS MESSAGECORPS_PROTO_DIR)
    if(dir AND NOT dir STREQUAL root)
      list(APPEND include_args -I${dir})
    endif()
  endforeach()

  set(generated_sources)
  foreach(proto IN LISTS ARG_PROTOS)
    get_filename_component(abs ${proto} ABSOLUTE BASE_DIR ${CMAKE_CURRENT_SOURCE_DIR})
    file(RELATIVE_PATH rel ${root} ${abs})
    if(rel MATCHES "^\\.\\.")
      message(FATAL_ERROR "messagecorps_add_protos(${target}): ${proto} is outside PROTO_ROOT ${root}")
    endif()
    string(REGEX REPLACE "\\.proto$" "" stem ${rel})
    set(cc ${ARG_OUT_DIR}/${stem}.pb.cc)
    set(h ${ARG_OUT_DIR}/${stem}.pb.h)
    add_custom_command(
      OUTPUT ${cc} ${h}
      COMMAND ${CMAKE_COMMAND} -E make_directory ${ARG_OUT_DIR}
      COMMAND ${protoc} ${include_args} --cpp_out=${ARG_OUT_DIR} ${abs}
      DEPENDS ${abs} ${protoc}
      COMMENT "protoc ${rel}"
      VERBATIM)
    list(APPEND generated_sources ${cc} ${h})
  endforeach()
  target_sources(${target} PRIVATE ${generated_sources})
  target_include_directories(${target} PUBLIC $<BUILD_INTERFACE:${ARG_OUT_DIR}>)
  set_property(TARGET ${target} APPEND PROPERTY MESSAGECORPS_PROTO_OUT_DIRS ${ARG_OUT_DIR})
endfunction()
