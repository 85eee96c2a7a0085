# Installs the C++ package: find_package(iccrt) then target_link_libraries(app PRIVATE iccrt::iccrt).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

if(SKBUILD)
  # The Python wheel carries the shared library next to the extension module (see python/CMakeLists.txt).
  return()
endif()

install(TARGETS iccrt EXPORT iccrtTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/iccrt DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT iccrtTargets NAMESPACE iccrt:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/iccrt)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/iccrtConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/iccrtConfig.cmake
                              INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/iccrt)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/iccrtConfigVersion.cmake COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/iccrtConfig.cmake ${PROJECT_BINARY_DIR}/iccrtConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/iccrt)
