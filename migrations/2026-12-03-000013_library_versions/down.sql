DROP TRIGGER folders_bump_library ON folders;
DROP TRIGGER images_bump_library ON images;
DROP FUNCTION atelier_bump_library_of_row();
DROP FUNCTION atelier_bump_library(BIGINT);
DROP TABLE library_versions;
