# The Debian package (DESIGN.md §12): scripts/package.sh runs a Release
# build and `cpack -G DEB`. CPack 3.25 writes neither conffiles nor
# maintainer scripts, so packaging/ has them, written as debhelper 13 would
# generate them (reference: shared/reference/operations-kit.md §6).
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME provisioner)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "provisioner developers")
set(CPACK_PACKAGE_CONTACT "provisioner developers <provisioner@example.org>")
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # provisioner_<version>-1_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# The first line is the summary, the rest the extended description; CPack
# indents each following line by one space itself (deb-control(5)), and
# "." stands for an empty line.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "OpenTofu workspace scheduler daemon
provisioner keeps OpenTofu workspaces deployed or destroyed as their cron
schedules say, for example up from 08:00 to 19:00 on working days to save
cloud cost. It runs tofu as a subprocess, keeps its state in a crash-safe
JSON file, reloads its configuration when the file changes, and serves
Prometheus metrics, health probes and a JSON API.
.
The package ships a hardened systemd unit, an alerting and dashboard kit
for Prometheus, Alertmanager and Grafana under /usr/share/provisioner,
and one runbook per alert.")
# Library dependencies from dpkg-shlibdeps; the account comes from
# systemd-sysusers, which debhelper's ${misc:Depends} would add.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "systemd | systemd-standalone-sysusers | systemd-sysusers")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "prometheus, prometheus-alertmanager")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_SOURCE_DIR}/packaging/conffiles
    ${CMAKE_SOURCE_DIR}/packaging/postinst
    ${CMAKE_SOURCE_DIR}/packaging/prerm
    ${CMAKE_SOURCE_DIR}/packaging/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
set(CPACK_STRIP_FILES TRUE)
# Stage with DESTDIR and the real prefix (/usr), so that the config lands in
# /etc and the unit names /usr/bin/provisioner (cmake/install_unit_and_config.cmake
# decides both from the prefix at install time).
set(CPACK_SET_DESTDIR ON)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
# Only what install() names, never the build tree's test binaries.
set(CPACK_INSTALL_CMAKE_PROJECTS "${CMAKE_BINARY_DIR};${PROJECT_NAME};ALL;/")
include(CPack)
