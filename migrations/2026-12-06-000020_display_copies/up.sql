-- A display-sized copy of each picture (about 1600 px on the long side), what the image
-- page, the viewer and share pages show instead of the full working copy. NULL: no copy
-- (videos, and pictures stored before copies existed until `atelier display-copies`
-- makes theirs; pages fall back to the working copy meanwhile).
ALTER TABLE images ADD COLUMN display_ext text;
