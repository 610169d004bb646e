DROP TABLE images;
DROP TABLE folders;
