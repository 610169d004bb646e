DROP TRIGGER images_library_tags_insert ON images;
DROP TRIGGER images_library_tags_update ON images;
DROP TRIGGER images_library_tags_delete ON images;
DROP FUNCTION atelier_library_tags();
DROP FUNCTION atelier_library_tags_apply(bigint[], text[], int[]);
DROP TABLE library_tags;
