# embed_files(TARGET_SOURCE_VAR OUTPUT NAMESPACE FUNCTION FILE...)
# Generates a C++ source holding each file's bytes, so a binary carries its defaults
# (device models, the default scenario) and runs without any file installed.
function(embed_files out_var output namespace)
  set(files ${ARGN})
  add_custom_command(
    OUTPUT ${output}
    COMMAND ${CMAKE_COMMAND} -DOUTPUT=${output} -DNAMESPACE=${namespace}
            "-DFILES=${files}" -P ${PROJECT_SOURCE_DIR}/scripts/cmake/embed_files_script.cmake
    DEPENDS ${files} ${PROJECT_SOURCE_DIR}/scripts/cmake/embed_files_script.cmake
    COMMENT "Embedding ${namespace} files"
    VERBATIM)
  set(${out_var} ${output} PARENT_SCOPE)
endfunction()
