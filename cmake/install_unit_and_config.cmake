# Runs at install time (cmake/install.cmake), when the prefix is final:
# writes the unit with the installed paths, and the config unless one is
# there already.

if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(sysconfdir /etc)
elseif(CMAKE_INSTALL_PREFIX MATCHES "^/opt/")
  set(sysconfdir /etc${CMAKE_INSTALL_PREFIX})
else()
  set(sysconfdir ${CMAKE_INSTALL_PREFIX}/etc)
endif()
set(PROVISIONER_UNIT_DIR ${CMAKE_INSTALL_PREFIX}/lib/systemd/system)
set(PROVISIONER_BINARY ${CMAKE_INSTALL_PREFIX}/${PROVISIONER_BINDIR}/provisioner)
set(PROVISIONER_CONFIG_FILE ${sysconfdir}/provisioner/config.yaml)
set(PROVISIONER_DOC_DIR ${CMAKE_INSTALL_PREFIX}/${PROVISIONER_DOCDIR})
# One scratch file per destination: installs into different DESTDIRs (the
# tests, cpack) may run at the same time.
string(MD5 tag "$ENV{DESTDIR}|${CMAKE_INSTALL_PREFIX}")
set(unit ${PROVISIONER_BUILD_DIR}/install/${tag}/provisioner.service)
configure_file(${PROVISIONER_SOURCE_DIR}/systemd/provisioner.service.in ${unit} @ONLY)
file(INSTALL ${unit} DESTINATION ${PROVISIONER_UNIT_DIR}
     PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
file(REMOVE_RECURSE ${PROVISIONER_BUILD_DIR}/install/${tag})

# The config is the operator's file. A package marks it a conffile (dpkg
# keeps a changed one); a plain install over an existing one puts the new
# default beside it as config.yaml.default instead of overwriting it.
# file(INSTALL) adds DESTDIR itself; the check must add it by hand.
set(config_dir ${sysconfdir}/provisioner)
set(name config.yaml)
if(EXISTS $ENV{DESTDIR}${config_dir}/config.yaml)
  set(name config.yaml.default)
  message(STATUS "Keeping: $ENV{DESTDIR}${config_dir}/config.yaml (the new default is ${name})")
endif()
file(INSTALL ${PROVISIONER_SOURCE_DIR}/packaging/config.yaml DESTINATION ${config_dir}
     RENAME ${name} PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
