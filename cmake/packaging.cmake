# Install rules and the Debian package.
#
#   cmake --install build --prefix /usr          programs, unit, sysusers.d,
#                                                tmpfiles.d, docs, man pages
#   (cd build && cpack -G DEB)                   pathwatch_<version>_<arch>.deb,
#                                                which adds /etc/pathwatch/config.json
#                                                as a conffile and the maintainer scripts
#
# The paths below are relative to the prefix, so DESTDIR and --prefix work;
# the systemd directories are lib/... under the prefix as systemd searches
# /usr/lib and /usr/local/lib alike.
include(GNUInstallDirs)

install(TARGETS pathwatch RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS pathwatchd RUNTIME DESTINATION ${CMAKE_INSTALL_SBINDIR})

# ---- systemd: unit, user, directories ----
# The unit names /usr/sbin/pathwatchd and /usr/share/doc/pathwatch; another
# --prefix gets those paths rewritten at install time (the prefix is only
# known then), so `cmake --install build` to /usr/local gives a unit that runs.
# Written straight into DESTDIR, so concurrent installs never share a file.
set(PATHWATCH_DOCDIR ${CMAKE_INSTALL_DATAROOTDIR}/doc/pathwatch)
install(CODE "
  file(READ \"${PROJECT_SOURCE_DIR}/systemd/pathwatchd.service\" unit)
  string(REPLACE \"/usr/sbin/pathwatchd\"
    \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_SBINDIR}/pathwatchd\" unit \"\${unit}\")
  string(REPLACE \"/usr/share/doc/pathwatch/\"
    \"\${CMAKE_INSTALL_PREFIX}/${PATHWATCH_DOCDIR}/\" unit \"\${unit}\")
  set(dest \"\${CMAKE_INSTALL_PREFIX}/lib/systemd/system/pathwatchd.service\")
  message(STATUS \"Installing: \$ENV{DESTDIR}\${dest}\")
  file(WRITE \"\$ENV{DESTDIR}\${dest}\" \"\${unit}\")
  file(CHMOD \"\$ENV{DESTDIR}\${dest}\"
    PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
  list(APPEND CMAKE_INSTALL_MANIFEST_FILES \"\${dest}\")
")
install(FILES systemd/sysusers.d/pathwatch.conf DESTINATION lib/sysusers.d)
install(FILES systemd/tmpfiles.d/pathwatch.conf DESTINATION lib/tmpfiles.d)

# ---- docs: the example config, the CAP_NET_RAW drop-in, Prometheus examples ----
install(FILES examples/config.json systemd/pathwatch.conf DESTINATION ${PATHWATCH_DOCDIR})
install(FILES examples/README.md DESTINATION ${PATHWATCH_DOCDIR} RENAME README.md)
install(FILES examples/prometheus/pathwatch.rules.yml examples/prometheus/prometheus.yml
        DESTINATION ${PATHWATCH_DOCDIR}/prometheus)

# ---- man pages: docs/man/NAME.N, gzipped at build time as Debian ships them ----
# The glob picks up pages as they are added (CONFIGURE_DEPENDS re-globs).
file(GLOB PATHWATCH_MAN_PAGES CONFIGURE_DEPENDS
  ${PROJECT_SOURCE_DIR}/docs/man/*.1
  ${PROJECT_SOURCE_DIR}/docs/man/*.5
  ${PROJECT_SOURCE_DIR}/docs/man/*.8)
if(PATHWATCH_MAN_PAGES)
  find_program(GZIP_PROGRAM gzip REQUIRED)
endif()
set(PATHWATCH_MAN_GZ "")
foreach(page ${PATHWATCH_MAN_PAGES})
  get_filename_component(name ${page} NAME)
  string(REGEX REPLACE "^.*\\.([158])$" "\\1" section ${name})
  set(gz ${PROJECT_BINARY_DIR}/man/${name}.gz)
  add_custom_command(OUTPUT ${gz}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${PROJECT_BINARY_DIR}/man
    COMMAND ${CMAKE_COMMAND} -DGZIP=${GZIP_PROGRAM} -DSRC=${page} -DDST=${gz}
            -P ${PROJECT_SOURCE_DIR}/cmake/gzip_file.cmake
    DEPENDS ${page} ${PROJECT_SOURCE_DIR}/cmake/gzip_file.cmake
    COMMENT "gzip man page ${name}" VERBATIM)
  list(APPEND PATHWATCH_MAN_GZ ${gz})
  install(FILES ${gz} DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section})
endforeach()
add_custom_target(pathwatch_man ALL DEPENDS ${PATHWATCH_MAN_GZ})

# ---- the conffile: only the package puts a config in /etc ----
# A plain install leaves /etc alone (the operator copies the example); the
# package ships it as a dpkg conffile, so local edits survive upgrades. The
# component is EXCLUDE_FROM_ALL and CPack installs it by name (below).
install(FILES examples/config.json DESTINATION /etc/pathwatch
        COMPONENT conffile EXCLUDE_FROM_ALL)

# ---- CPack: the Debian package ----
set(PATHWATCH_PACKAGE_CONTACT "pathwatch maintainers <maintainers@pathwatch.invalid>"
    CACHE STRING "Maintainer field of the Debian package")

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME pathwatch)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT ${PATHWATCH_PACKAGE_CONTACT})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "network-path diagnosis for servers that call AI APIs")
set(CPACK_PACKAGE_DESCRIPTION
"pathwatch probes AI API providers (OpenAI, Anthropic, Gemini, Discord, any
OpenAI-compatible endpoint) layer by layer - key, DNS, TCP, TLS, HTTP, header
echo - over every egress route, and names the cause of a failing call: key,
account, usage, region, middlebox, network, route or provider.

pathwatch check diagnoses once; pathwatchd checks on a schedule, keeps the
history, raises alerts and serves Prometheus metrics. The service is installed
but not enabled: write /etc/pathwatch/config.json first.")
# Everything installs under /usr except the conffile; DESTDIR staging keeps
# that absolute /etc path inside the package.
set(CPACK_SET_DESTDIR ON)
set(CPACK_INSTALL_PREFIX /usr)
set(CPACK_INSTALL_CMAKE_PROJECTS
    "${PROJECT_BINARY_DIR};pathwatch;ALL;/"
    "${PROJECT_BINARY_DIR};pathwatch;conffile;/")
set(CPACK_STRIP_FILES ON)

set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Library dependencies come from the binaries (dpkg-shlibdeps); the postinst
# needs systemd-sysusers or adduser to create the user.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "systemd | adduser")
# TLS checks need the system CA store and the Mozilla root set it is built from.
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS ca-certificates)
set(CPACK_DEBIAN_PACKAGE_SUGGESTS prometheus)
file(WRITE ${PROJECT_BINARY_DIR}/packaging/conffiles "/etc/pathwatch/config.json\n")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/cmake/debian/postinst
    ${PROJECT_SOURCE_DIR}/cmake/debian/prerm
    ${PROJECT_SOURCE_DIR}/cmake/debian/postrm
    ${PROJECT_BINARY_DIR}/packaging/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

include(CPack)
