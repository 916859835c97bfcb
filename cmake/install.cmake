# Install rules (DESIGN.md §12): where Debian and systemd expect each file.
#   DESTDIR=D cmake --install build --prefix /usr
# (cmake 3.25 has no --destdir; DESTDIR is how it stages.) The prefix
# defaults to /usr. The unit, sysusers and tmpfiles snippets go under
# <prefix>/lib, which systemd reads for /usr and /usr/local alike. The
# config goes to /etc for the /usr prefix and <prefix>/etc otherwise
# (GNUInstallDirs' rule), decided at install time like the paths in the
# unit, so that `--prefix` moves everything together.
if(CMAKE_INSTALL_PREFIX_INITIALIZED_TO_DEFAULT)
  set(CMAKE_INSTALL_PREFIX /usr CACHE PATH "Install prefix" FORCE)
endif()
include(GNUInstallDirs)

# The unit for this build's own prefix: the tests check it with
# systemd-analyze.
set(PROVISIONER_UNIT_DIR ${CMAKE_INSTALL_PREFIX}/lib/systemd/system)
set(PROVISIONER_BINARY ${CMAKE_INSTALL_FULL_BINDIR}/provisioner)
set(PROVISIONER_CONFIG_FILE ${CMAKE_INSTALL_FULL_SYSCONFDIR}/provisioner/config.yaml)
set(PROVISIONER_DOC_DIR ${CMAKE_INSTALL_FULL_DOCDIR})
configure_file(${CMAKE_SOURCE_DIR}/systemd/provisioner.service.in
               ${CMAKE_BINARY_DIR}/provisioner.service @ONLY)

install(TARGETS provisioner RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES systemd/provisioner.sysusers DESTINATION lib/sysusers.d RENAME provisioner.conf)
install(FILES systemd/provisioner.tmpfiles DESTINATION lib/tmpfiles.d RENAME provisioner.conf)
install(CODE "
  set(PROVISIONER_SOURCE_DIR \"${CMAKE_SOURCE_DIR}\")
  set(PROVISIONER_BUILD_DIR \"${CMAKE_BINARY_DIR}\")
  set(PROVISIONER_TIMEOUT_STOP_SEC ${PROVISIONER_TIMEOUT_STOP_SEC})
  set(PROVISIONER_BINDIR \"${CMAKE_INSTALL_BINDIR}\")
  set(PROVISIONER_DOCDIR \"${CMAKE_INSTALL_DOCDIR}\")
")
install(SCRIPT cmake/install_unit_and_config.cmake)

# Example templates, the operations kit and the runbooks, read-only data.
install(DIRECTORY templates/ DESTINATION ${CMAKE_INSTALL_DATADIR}/provisioner/templates)
install(DIRECTORY monitoring/ DESTINATION ${CMAKE_INSTALL_DATADIR}/provisioner/monitoring
        PATTERN tests EXCLUDE)
install(DIRECTORY runbooks/ DESTINATION ${CMAKE_INSTALL_DATADIR}/provisioner/runbooks)

# Documentation, the Debian way: copyright and a gzipped changelog next to
# the docs, and a gzipped manual page (gzip -n: no time stamp, so that two
# builds of the same sources give the same package).
install(DIRECTORY docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(FILES README.md packaging/copyright DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(FILES packaging/lintian-overrides DESTINATION ${CMAKE_INSTALL_DATADIR}/lintian/overrides
        RENAME provisioner)
find_program(GZIP gzip REQUIRED)
set(PROVISIONER_PACKAGING_OUT ${CMAKE_BINARY_DIR}/packaging)
add_custom_command(
  OUTPUT ${PROVISIONER_PACKAGING_OUT}/changelog.Debian.gz ${PROVISIONER_PACKAGING_OUT}/provisioner.1.gz
  COMMAND ${CMAKE_COMMAND} -E make_directory ${PROVISIONER_PACKAGING_OUT}
  COMMAND ${GZIP} -9nc ${CMAKE_SOURCE_DIR}/packaging/changelog
          > ${PROVISIONER_PACKAGING_OUT}/changelog.Debian.gz
  COMMAND ${GZIP} -9nc ${CMAKE_SOURCE_DIR}/packaging/provisioner.1
          > ${PROVISIONER_PACKAGING_OUT}/provisioner.1.gz
  DEPENDS packaging/changelog packaging/provisioner.1
  COMMENT "Compressing the changelog and the manual page")
add_custom_target(provisioner_docs ALL
  DEPENDS ${PROVISIONER_PACKAGING_OUT}/changelog.Debian.gz ${PROVISIONER_PACKAGING_OUT}/provisioner.1.gz)
install(FILES ${PROVISIONER_PACKAGING_OUT}/changelog.Debian.gz DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(FILES ${PROVISIONER_PACKAGING_OUT}/provisioner.1.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
