# Install + export: find_package(messagecorps CONFIG) from an install prefix, a pkg-config file,
# the schemas and messagecorps_add_protos() for user projects.
include(CMakePackageConfigHelpers)

install(TARGETS messagecorps EXPORT messagecorpsTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} ${CMAKE_INSTALL_INCLUDEDIR}/messagecorps/proto)
install(DIRECTORY include/messagecorps DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
# Generated headers of our schemas, under include/messagecorps/proto/<proto path>.pb.h
install(DIRECTORY ${MESSAGECORPS_GENERATED_DIR}/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/messagecorps/proto
        FILES_MATCHING PATTERN "*.pb.h")
install(DIRECTORY proto/ DESTINATION ${CMAKE_INSTALL_DATADIR}/messagecorps/proto
        FILES_MATCHING PATTERN "*.proto")
install(FILES ${MESSAGECORPS_DESCRIPTOR_SET} DESTINATION ${CMAKE_INSTALL_DATADIR}/messagecorps)
install(EXPORT messagecorpsTargets NAMESPACE messagecorps::
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/messagecorps)
install(FILES cmake/MessagecorpsProtos.cmake DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/messagecorps)

configure_package_config_file(cmake/messagecorpsConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/messagecorpsConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/messagecorps
  PATH_VARS CMAKE_INSTALL_DATADIR)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/messagecorpsConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/messagecorpsConfig.cmake
              ${CMAKE_CURRENT_BINARY_DIR}/messagecorpsConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/messagecorps)

# Relative to the .pc file, so the package works from any install prefix (cmake --install --prefix).
file(RELATIVE_PATH MCORPS_PC_RELATIVE_PREFIX "/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/")
configure_file(cmake/messagecorps.pc.in ${CMAKE_CURRENT_BINARY_DIR}/messagecorps.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/messagecorps.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
